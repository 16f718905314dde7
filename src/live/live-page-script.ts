/**
 * The live page's script (GET /live.js), plain browser JavaScript kept as a string so the build
 * (tsc only) ships it inside dist/ with no bundler and no CDN. It:
 * - reads the bearer token from the URL fragment (`#token=T`) and sends it on every API call;
 * - lists volumes and sessions, and follows one session (the newest running one, or `?session=ID`);
 * - reads GET /events with fetch (an EventSource cannot send a token) and, on each event of the
 *   followed session (about 4 per second, the session's progress interval), updates the counters
 *   and fetches GET /sessions/:id/map, at most one request in flight;
 * - draws the map on a canvas (cylinders as columns, heads as rows) and two rate charts;
 * - labels the legend from the map's own `legend` (it knows no technique) and shows the
 *   counters of the session's type (LIVE_COUNTERS); `?mirror=M3` asks a mirror session for M3.
 * The DOM ids it fills (c-state, c-copiedInOrder, c-tracksLeft, n-pending, ...) are what test/live reads.
 */
import { LIVE_COUNTERS } from './live-page-counters.js';
import { TRACK_COLOURS } from './track-map.js';

export const LIVE_PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var COUNTERS = ${JSON.stringify(LIVE_COUNTERS)};
  var COLOURS = ${JSON.stringify(TRACK_COLOURS)};
  var HOST = '#F0E442';
  var HISTORY = 240; // rate samples kept: one minute at 4 per second
  // A split mirror or an idle clone sends no events while the host writes: look at it this often anyway.
  var MAP_POLL_MS = 1000;
  var ACTIVE = ['starting', 'running', 'paused', 'completing'];
  var token = (/token=([^&]+)/.exec(location.hash) || [])[1] || '';
  var headers = token ? { Authorization: 'Bearer ' + decodeURIComponent(token) } : {};
  var params = new URLSearchParams(location.search);
  var wanted = params.get('session');
  var wantedMirror = params.get('mirror');
  var counterType = null;
  var lastMap = null;
  var sessions = {};
  var followed = null;
  var mapBusy = false;
  var mapAgain = false;
  var mapVersion = 0;
  var rates = [];
  var last = null;

  function api(path) {
    return fetch(path, { headers: headers }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }
  function el(id) { return document.getElementById(id); }
  function text(id, value) { var e = el(id); if (e) e.textContent = String(value); }

  function renderVolumes(list) {
    var body = el('volumes');
    body.textContent = '';
    list.forEach(function (v) {
      var tr = document.createElement('tr');
      [v.name, v.deviceType, v.volser, v.unitCount, v.interceptors.length ? v.interceptors.join(', ') : '-'].forEach(function (c) {
        var td = document.createElement('td'); td.textContent = String(c); tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  function renderSessions() {
    var body = el('sessions');
    body.textContent = '';
    Object.keys(sessions).forEach(function (id) {
      var s = sessions[id];
      var tr = document.createElement('tr');
      tr.dataset.session = id;
      if (id === followed) tr.className = 'followed';
      [s.id, s.type, s.volume, s.target, s.state].forEach(function (c) {
        var td = document.createElement('td'); td.textContent = String(c); tr.appendChild(td);
      });
      tr.addEventListener('click', function () { follow(id); });
      body.appendChild(tr);
    });
  }
  function follow(id) {
    if (followed === id) return;
    followed = id; rates = []; last = null; lastMap = null;
    text('followed', id);
    renderSessions();
    update(sessions[id]);
  }
  function chooseSession() {
    if (wanted && sessions[wanted]) return follow(wanted);
    var ids = Object.keys(sessions);
    var running = ids.filter(function (id) { return ACTIVE.indexOf(sessions[id].state) >= 0; });
    var pick = running.length ? running[running.length - 1] : ids[ids.length - 1];
    if (pick && (!followed || (running.length && running.indexOf(followed) < 0))) follow(pick);
  }

  // The counter rows of the session's type, built once per type.
  function renderCounters(type) {
    if (counterType === type) return;
    counterType = type;
    var body = el('counters');
    body.textContent = '';
    (COUNTERS[type] || COUNTERS.backup).forEach(function (c) {
      var tr = document.createElement('tr'), th = document.createElement('th'), td = document.createElement('td');
      th.textContent = c.label; td.id = 'c-' + c.id; td.textContent = '-';
      tr.appendChild(th); tr.appendChild(td); body.appendChild(tr);
    });
  }
  function lookup(roots, path) {
    return path.split('.').reduce(function (v, k) { return v === undefined || v === null ? undefined : v[k]; }, roots);
  }
  function showCounters(s) {
    renderCounters(s.type);
    var p = s.progress || {};
    var subject = lastMap && lastMap.subject;
    var mirror = (p.mirrors || []).filter(function (m) { return m.mirror === subject; })[0] || (p.mirrors || [])[0];
    var roots = { session: s, progress: p, mirror: mirror, map: lastMap };
    (COUNTERS[s.type] || COUNTERS.backup).forEach(function (c) {
      var v = lookup(roots, c.path);
      text('c-' + c.id, v === undefined || v === null ? '-' : (c.fixed !== undefined ? Number(v).toFixed(c.fixed) : v));
    });
  }

  function update(s) {
    if (!s) return;
    showCounters(s);
    fetchMap(s.id);
  }

  function fetchMap(id) {
    if (mapBusy) { mapAgain = true; return; }
    mapBusy = true;
    mapAgain = false;
    var s = sessions[id];
    var query = s && s.type === 'mirror' && wantedMirror ? '?mirror=' + encodeURIComponent(wantedMirror) : '';
    api('/sessions/' + encodeURIComponent(id) + '/map' + query).then(function (map) {
      if (id === followed) { lastMap = map; drawMap(map); addRate(map); showCounters(sessions[id]); }
    }).catch(function () { /* a session without a map (snapshot) */ }).then(function () {
      mapBusy = false;
      if (mapAgain && followed) fetchMap(followed);
    });
  }

  function drawMap(map) {
    var canvas = el('map');
    var cell = Math.max(2, Math.min(8, Math.floor(960 / map.columns)));
    var bandColumns = Math.min(map.columns, Math.floor(960 / cell));
    var bands = Math.ceil(map.columns / bandColumns);
    var bandHeight = map.rows * cell + 6;
    canvas.width = bandColumns * cell;
    canvas.height = bands * bandHeight;
    var g = canvas.getContext('2d');
    for (var u = 0; u < map.unitCount; u++) {
      var column = Math.floor(u / map.rows), row = u % map.rows;
      var x = (column % bandColumns) * cell, y = Math.floor(column / bandColumns) * bandHeight + row * cell;
      var code = map.codes.charAt(u);
      var lower = code.toLowerCase();
      g.fillStyle = COLOURS[lower] || '#FFFFFF';
      g.fillRect(x, y, cell - (cell > 3 ? 1 : 0), cell - (cell > 3 ? 1 : 0));
      if (code !== lower && cell >= 4) { g.fillStyle = HOST; g.fillRect(x + 1, y + 1, cell - 3, cell - 3); g.fillStyle = COLOURS[lower]; g.fillRect(x + 2, y + 2, cell - 5, cell - 5); }
    }
    mapVersion += 1;
    canvas.dataset.version = String(mapVersion);
    canvas.dataset.codes = map.codes;
    canvas.dataset.kind = map.kind;
    labelLegend(map.legend || []);
    text('map-of', (map.kind || 'backup') + (map.subject ? ' ' + map.subject : '') + ' map');
    Object.keys(map.counts).forEach(function (k) { text('n-' + k, map.counts[k]); });
    text('n-hostWritten', map.hostWrittenUnits);
  }

  // The legend in the map's own words; codes it does not name are hidden.
  function labelLegend(legend) {
    var labels = {};
    legend.forEach(function (e) { labels[e.name] = e.label; });
    ['pending', 'copiedInOrder', 'copiedOutOfOrder', 'recopied', 'notInSession'].forEach(function (name) {
      var li = el('l-' + name);
      if (!li) return;
      li.style.display = labels[name] === undefined ? 'none' : '';
      if (labels[name] !== undefined) text('t-' + name, labels[name]);
    });
  }

  // What the copy chart counts: MB when the session counts bytes (backup, clone), else the units
  // the map shows copied (a mirror's resent tracks; a new episode starts again from 0).
  function copyMeasure(s, map) {
    var p = s && s.progress;
    if (p && typeof p.bytesCopied === 'number') return { amount: p.bytesCopied / 1e6, unit: 'MB/s' };
    return { amount: map.counts.copiedInOrder + map.counts.copiedOutOfOrder, unit: map.unitKind + 's/s' };
  }

  function addRate(map) {
    var measure = copyMeasure(sessions[followed], map);
    var now = map.sampledAtMs;
    text('r-copy-unit', measure.unit);
    if (last && now > last.t) {
      var dt = (now - last.t) / 1000;
      rates.push({ t: now, mbps: Math.max(0, measure.amount - last.amount) / dt, wps: (map.hostWrites - last.writes) / dt });
      if (rates.length > HISTORY) rates.shift();
      drawChart('chart-copy', rates.map(function (r) { return r.mbps; }), '#0072B2');
      drawChart('chart-host', rates.map(function (r) { return r.wps; }), '#D55E00');
      text('r-copy', rates[rates.length - 1].mbps.toFixed(1));
      text('r-host', rates[rates.length - 1].wps.toFixed(0));
    }
    last = { t: now, amount: measure.amount, writes: map.hostWrites };
  }

  function drawChart(id, values, colour) {
    var canvas = el(id), g = canvas.getContext('2d');
    g.clearRect(0, 0, canvas.width, canvas.height);
    var max = Math.max.apply(null, values.concat([1]));
    g.strokeStyle = '#999'; g.strokeRect(0, 0, canvas.width, canvas.height);
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    values.forEach(function (v, i) {
      var x = (i / Math.max(values.length - 1, 1)) * canvas.width, y = canvas.height - (v / max) * (canvas.height - 4) - 2;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    g.fillStyle = '#222'; g.fillText('max ' + max.toFixed(1), 4, 12);
  }

  function onEvent(kind, data) {
    var s = data.session;
    var known = Boolean(sessions[s.id]);
    sessions[s.id] = s;
    if (!known) { renderSessions(); chooseSession(); }
    else if (kind !== 'progress') renderSessions();
    if (s.id === followed) update(s);
    if (kind === 'end') api('/volumes').then(function (b) { renderVolumes(b.volumes); });
  }

  function stream() {
    fetch('/events', { headers: headers }).then(function (r) {
      var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = '';
      text('link', 'connected');
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error('stream ended');
          buffer += decoder.decode(chunk.value, { stream: true });
          var end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            var block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
            var kind = 'message', data = '';
            block.split('\n').forEach(function (line) {
              if (line.indexOf('event: ') === 0) kind = line.slice(7);
              else if (line.indexOf('data: ') === 0) data += line.slice(6);
            });
            if (data) onEvent(kind, JSON.parse(data));
          }
          return pump();
        });
      }
      return pump();
    }).catch(function (e) {
      text('link', 'reconnecting (' + e.message + ')');
      setTimeout(stream, 1000);
    });
  }

  setInterval(function () {
    var s = followed && sessions[followed];
    if (!s || ACTIVE.indexOf(s.state) < 0) return;
    api('/sessions/' + encodeURIComponent(s.id)).then(function (now) {
      if (!sessions[now.id] || sessions[now.id].finishedAt) return; // the end event came meanwhile
      sessions[now.id] = now;
      if (now.id === followed) update(now);
    }).catch(function () { /* the next event or poll tries again */ });
  }, MAP_POLL_MS);

  api('/volumes').then(function (b) { renderVolumes(b.volumes); }).catch(function (e) { text('link', e.message); });
  api('/sessions').then(function (b) {
    b.sessions.forEach(function (s) { sessions[s.id] = s; });
    renderSessions(); chooseSession();
  }).then(stream);
})();
`;
