/**
 * The live page's static files, served by the control server at GET /, /live.js, /live.css and /favicon.ico.
 * Everything is here, in dist/: no CDN, no font, no image from elsewhere. The files hold no data
 * and no secret, so they are served without a token (control-server.ts); the data comes from the
 * API, with the token from the page's URL fragment.
 */
import { LIVE_PAGE_SCRIPT } from './live-page-script.js';
import { HOST_WRITE_COLOUR, HOST_WRITE_LABEL, TRACK_LEGEND } from './track-map.js';

export interface LivePageAsset {
  readonly path: string;
  readonly pattern: RegExp;
  readonly contentType: string;
  readonly body: string;
}

/** Every code has an entry; the script relabels them from the followed session's map legend and hides the codes it does not name. */
const LEGEND = [
  ...TRACK_LEGEND.map(
    (e) =>
      `<li id="l-${e.name}"><span class="swatch" style="background:${e.colour}"></span><span id="t-${e.name}">${e.label}</span>: <b id="n-${e.name}">-</b></li>`,
  ),
  `<li><span class="swatch hw" style="background:${HOST_WRITE_COLOUR}"></span>${HOST_WRITE_LABEL}: <b id="n-hostWritten">-</b></li>`,
].join('\n');

const HTML = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>snaptape live</title><link rel="stylesheet" href="/live.css"><link rel="icon" href="/favicon.ico" type="image/svg+xml"></head>
<body>
<header><h1>snaptape live</h1><span id="link">connecting</span></header>
<section><h2>Volumes</h2>
<table><thead><tr><th>name</th><th>device</th><th>volser</th><th>units</th><th>sessions on the write path</th></tr></thead><tbody id="volumes"></tbody></table></section>
<section><h2>Sessions</h2>
<table><thead><tr><th>id</th><th>type</th><th>volume</th><th>target</th><th>state</th></tr></thead><tbody id="sessions"></tbody></table></section>
<section><h2>Session <span id="followed">-</span> <small id="map-of"></small></h2>
<div class="row">
<div><canvas id="map" width="300" height="90" data-version="0" data-kind=""></canvas>
<ul class="legend">${LEGEND}</ul></div>
<table class="counters"><tbody id="counters"></tbody></table>
</div>
<div class="row">
<figure><figcaption>copy throughput, <span id="r-copy-unit">MB/s</span> (now <b id="r-copy">-</b>)</figcaption><canvas id="chart-copy" width="420" height="120"></canvas></figure>
<figure><figcaption>host writes per second (now <b id="r-host">-</b>)</figcaption><canvas id="chart-host" width="420" height="120"></canvas></figure>
</div></section>
<script src="/live.js"></script>
</body></html>
`;

const CSS = `body{font-family:sans-serif;margin:1em 2em;color:#222;background:#fff}
header{display:flex;align-items:baseline;gap:1em}#link{color:#666;font-size:90%}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}
th{background:#f4f4f4}tr.followed td{background:#e8f1f8}tbody tr{cursor:pointer}
.row{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}
#map{border:1px solid #ccc;image-rendering:pixelated}
.legend{list-style:none;padding:0}.legend li{margin:2px 0}
.swatch{display:inline-block;width:12px;height:12px;border:1px solid #555;margin-right:6px;vertical-align:middle}
figure{margin:0}figcaption{font-size:90%;color:#444}
`;

/** A track map in miniature: served at /favicon.ico, where browsers ask for it whatever the page links. */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" fill="#fff"/><rect x="1" y="1" width="6" height="6" fill="#2b7bb9"/><rect x="9" y="1" width="6" height="6" fill="#2b7bb9"/><rect x="1" y="9" width="6" height="6" fill="#e0a030"/><rect x="9" y="9" width="6" height="6" fill="#ccc"/></svg>`;

export const LIVE_PAGE_ASSETS: readonly LivePageAsset[] = [
  { path: '/', pattern: /^\/$/, contentType: 'text/html; charset=utf-8', body: HTML },
  { path: '/live.js', pattern: /^\/live\.js$/, contentType: 'text/javascript; charset=utf-8', body: LIVE_PAGE_SCRIPT },
  { path: '/live.css', pattern: /^\/live\.css$/, contentType: 'text/css; charset=utf-8', body: CSS },
  { path: '/favicon.ico', pattern: /^\/favicon\.ico$/, contentType: 'image/svg+xml', body: ICON },
];
