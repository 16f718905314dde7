/**
 * The live page's script (GET /live.js), plain browser JavaScript kept as a string so the build
 * (tsc only) ships it inside dist/ with no bundler and no CDN. It:
 * - reads the bearer token from the URL fragment (`#token=T`) and sends it on every API call;
 * - lists volumes and sessions, and follows one session (the newest running one, or `?session=ID`);
 * - reads GET /events with fetch (an EventSource cannot send a token) and, on each event of the
 *   followed session (about 4 per second, the session's progress interval), updates the counters
 *   and fetches GET /sessions/:id/map, at most one request in flight;
 * - draws the map on a canvas (cylinders as columns, heads as rows) and two rate charts.
 * The DOM ids it fills (c-state, c-copiedInOrder, ...) are what test/live reads.
 */
export const LIVE_PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var COLOURS = { x: '#FFFFFF', p: '#BBBBBB', i: '#0072B2', o: '#D55E00', r: '#CC79A7' };
  var HOST = '#F0E442';
  var HISTORY = 240; // rate samples kept: one minute at 4 per second
  var token = (/token=([^&]+)/.exec(location.hash) || [])[1] || '';
  var headers = token ? { Authorization: 'Bearer ' + decodeURIComponent(token) } : {};
  var wanted = new URLSearchParams(location.search).get('session');
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
    followed = id; rates = []; last = null;
    text('followed', id);
    renderSessions();
    update(sessions[id]);
  }
  function chooseSession() {
    if (wanted && sessions[wanted]) return follow(wanted);
    var ids = Object.keys(sessions);
    var running = ids.filter(function (id) { return ['starting', 'running', 'paused'].indexOf(sessions[id].state) >= 0; });
    var pick = running.length ? running[running.length - 1] : ids[ids.length - 1];
    if (pick && (!followed || (running.length && running.indexOf(followed) < 0))) follow(pick);
  }

  function update(s) {
    if (!s) return;
    var p = s.progress || {};
    text('c-state', s.state);
    ['copiedInOrder', 'copiedOutOfOrder', 'slotsTotal', 'bytesCopied', 'bytesTotal'].forEach(function (k) {
      text('c-' + k, p[k] === undefined ? '-' : p[k]);
    });
    text('c-mbPerSecond', p.mbPerSecond === undefined ? '-' : p.mbPerSecond.toFixed(1));
    fetchMap(s.id);
  }

  function fetchMap(id) {
    if (mapBusy) { mapAgain = true; return; }
    mapBusy = true;
    mapAgain = false;
    api('/sessions/' + encodeURIComponent(id) + '/map').then(function (map) {
      if (id === followed) { drawMap(map); addRate(map); }
    }).catch(function () { /* a session without a map (mirror, snapshot) */ }).then(function () {
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
    Object.keys(map.counts).forEach(function (k) { text('n-' + k, map.counts[k]); });
    text('n-hostWritten', map.hostWrittenUnits);
    text('c-hostWrites', map.hostWrites);
  }

  function addRate(map) {
    var s = sessions[followed];
    var bytes = s && s.progress ? s.progress.bytesCopied : 0;
    var now = map.sampledAtMs;
    if (last && now > last.t) {
      var dt = (now - last.t) / 1000;
      rates.push({ t: now, mbps: (bytes - last.bytes) / 1e6 / dt, wps: (map.hostWrites - last.writes) / dt });
      if (rates.length > HISTORY) rates.shift();
      drawChart('chart-copy', rates.map(function (r) { return r.mbps; }), '#0072B2');
      drawChart('chart-host', rates.map(function (r) { return r.wps; }), '#D55E00');
      text('r-copy', rates[rates.length - 1].mbps.toFixed(1));
      text('r-host', rates[rates.length - 1].wps.toFixed(0));
    }
    last = { t: now, bytes: bytes, writes: map.hostWrites };
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

  api('/volumes').then(function (b) { renderVolumes(b.volumes); }).catch(function (e) { text('link', e.message); });
  api('/sessions').then(function (b) {
    b.sessions.forEach(function (s) { sessions[s.id] = s; });
    renderSessions(); chooseSession();
  }).then(stream);
})();
`;
