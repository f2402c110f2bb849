/** The exported page's index.html (the script is the bundle of ./page.ts). */
import { CLASSIFY_TARGET } from './camera.js';

/** What the page says when opened from file:// (its module script cannot load there). */
export const FILE_URL_MESSAGE = 'This page must be served over HTTP: it loads its model and WebAssembly files, which a file:// page cannot. In this folder run:  node serve.mjs  and open the address it prints.';

/** The HTML of the page, loading `script` (a module next to it). */
export function pageHtml(title: string, script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
#status { color: #555; } .error { color: #b00020 !important; font-weight: bold; }
#drop { border: 2px dashed #aaa; border-radius: 8px; padding: 1.2em; text-align: center; color: #666; }
ul#results { list-style: none; padding: 0; } li.result { display: flex; gap: 1em; margin: .6em 0; align-items: flex-start; }
.thumb { width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid #ddd; }
ol.bars { list-style: none; padding: 0; margin: .2em 0; width: 26em; }
ol.bars li { display: grid; grid-template-columns: 8em 1fr 4em; align-items: center; gap: .4em; }
.bar { display: block; height: .8em; background: #1a73e8; border-radius: 2px; min-width: 1px; }
.pct { text-align: right; font-variant-numeric: tabular-nums; color: #444; }
.skipped { color: #a15c00; } fieldset { margin: .5em 0; } .shelf { display: flex; flex-wrap: wrap; gap: 4px; margin-top: .4em; }
.shelf .thumb { width: 40px; height: 40px; } label { margin-right: 1em; } input[type=number] { width: 5em; }
#loss-curve { border: 1px solid #ddd; margin-top: .6em; }
#camera-panel { margin: .6em 0; } #camera-video { display: block; margin-top: .4em; border: 1px solid #ddd; } #camera-video[hidden] { display: none; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<div id="model-name"></div>
<p id="status">loading the model…</p>
<h2>Classify</h2>
<div id="drop">drop images here, or <input id="pick" type="file" accept="image/*" multiple></div>
<div id="camera-panel"><button id="camera">Camera</button>
<span id="camera-controls" hidden><label>captures go to <select id="camera-target"><option value="${CLASSIFY_TARGET}">the classify list</option></select></label> <button id="capture">capture</button> <button id="camera-stop">stop</button></span>
<span id="camera-status"></span><br><video id="camera-video" width="320" muted playsinline hidden></video></div>
<ul id="results"></ul>
<h2>Teach</h2>
<p>Make classes from your own images (a few each; every 4th is held back to measure accuracy), then fine-tune the model here. Nothing leaves this machine.</p>
<div><input id="class-name" placeholder="class name"> <button id="add-class">add class</button></div>
<div id="teach-classes"></div>
<div>
<label>layers <select id="layers"><option value="head">classifier only</option><option value="all">all layers</option></select></label>
<label>steps <input id="steps" type="number" value="30" min="1"></label>
<label>batch <input id="batch" type="number" value="8" min="1"></label>
<label>learning rate <input id="lr" type="number" value="0.01" step="0.001" min="0"></label>
<button id="train">fine-tune</button>
</div>
<p id="teach-status"></p>
<canvas id="loss-curve" width="480" height="160"></canvas>
<p><a id="download" hidden>download the fine-tuned weights (safetensors; tessera eval --checkpoint FILE loads them)</a></p>
<pre id="selftest"></pre>
<script>
// a module script does not load from file:// (no server): say how to serve the folder instead
if (location.protocol === 'file:') {
  const status = document.getElementById('status');
  status.textContent = ${JSON.stringify(FILE_URL_MESSAGE)};
  status.className = 'error';
}
</script>
<script type="module" src="${escapeHtml(script)}"></script>
</body>
</html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
