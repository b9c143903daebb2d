// The transcripts page: a folder tree, a search box, and a transcript whose lines play the
// recording from their start. Never reloads itself (someone may be listening); every text from
// the server goes into the page as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const player = $("player");
let openKey = null;
let lines = [];

function clock(seconds) {
  const tenths = Math.round(Math.max(seconds, 0) * 10);
  const whole = Math.floor(tenths / 10);
  const h = Math.floor(whole / 3600), m = Math.floor(whole / 60) % 60, s = whole % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0") + "." + (tenths % 10);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, {cache: "no-store"});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(error) {
  $("error").textContent = String(error.message || error);
  $("error").hidden = false;
}

// Offsets are in code points (the server is Python), hence Array.from rather than slice.
function markedText(text, matches) {
  const chars = Array.from(text);
  const fragment = document.createDocumentFragment();
  let cursor = 0;
  for (const [first, last] of matches) {
    fragment.append(chars.slice(cursor, first).join(""));
    fragment.append(element("mark", "", chars.slice(first, last).join("")));
    cursor = last;
  }
  fragment.append(chars.slice(cursor).join(""));
  return fragment;
}

// --- search ---------------------------------------------------------------------------------
async function search(query) {
  $("error").hidden = true;
  const hits = await getJSON("/api/search?limit=100&q=" + encodeURIComponent(query));
  const list = $("hits");
  list.replaceChildren();
  $("results-title").textContent = hits.length
    ? `${hits.length}${hits.length === 100 ? "+" : ""} match${hits.length === 1 ? "" : "es"} for ${query}`
    : `Nothing matches ${query}`;
  for (const hit of hits) {
    const button = element("button", "hit");
    button.type = "button";
    button.dataset.key = hit.key;
    button.dataset.start = hit.start;
    button.append(element("span", "where", `${hit.key} · ${clock(hit.start)}`));
    button.append(markedText(hit.text, hit.matches));
    button.addEventListener("click", () => openTranscript(hit.key, hit.segment, true));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
  $("results").hidden = false;
  $("intro").hidden = true;
  remember({q: query});
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = $("query").value.trim();
  if (query) search(query).catch(showError);
});

// --- one transcript ---------------------------------------------------------------------------
async function openTranscript(key, segment, play) {
  $("error").hidden = true;
  if (openKey !== key) {
    const transcript = await getJSON("/api/transcript?key=" + encodeURIComponent(key));
    openKey = key;
    $("transcript-title").textContent = key;
    player.src = transcript.audio;
    lines = transcript.segments.map((part, position) => {
      const line = element("li", "line");
      line.dataset.start = part.start;
      line.dataset.end = part.end;
      const time = element("button", "time", clock(part.start));
      time.type = "button";
      line.append(time, element("span", "text", part.text));
      line.addEventListener("click", () => choose(position, true));
      return line;
    });
    $("lines").replaceChildren(...lines);
    for (const file of document.querySelectorAll(".file")) {
      file.classList.toggle("open", file.dataset.key === key);
    }
    $("transcript").hidden = false;
    $("intro").hidden = true;
  }
  if (segment !== null && segment !== undefined && lines[segment]) choose(segment, play);
}

// Plays from the line's start; before the metadata is in, the seek waits for it.
function choose(position, play) {
  const line = lines[position];
  const start = Number(line.dataset.start);
  for (const other of lines) other.classList.toggle("chosen", other === line);
  line.scrollIntoView({block: "nearest"});
  const go = () => {
    player.currentTime = start;
    if (play) player.play().catch(() => {});  // autoplay refused: the seek still stands
  };
  if (player.readyState >= 1) go();
  else player.addEventListener("loadedmetadata", go, {once: true});
  remember({key: openKey, t: start});
}

player.addEventListener("timeupdate", () => {
  const now = player.currentTime;
  for (const line of lines) {
    const on = now >= Number(line.dataset.start) && now < Number(line.dataset.end);
    line.classList.toggle("playing", on);
  }
});

// --- folder tree --------------------------------------------------------------------------------
async function fillFolder(path, list) {
  const folder = await getJSON("/api/folder?path=" + encodeURIComponent(path));
  for (const sub of folder.folders) {
    const details = element("details");
    const summary = element("summary", "", sub.name + " ");
    summary.append(element("span", "count", `(${sub.recordings})`));
    const inner = element("ul");
    details.append(summary, inner);
    details.addEventListener("toggle", () => {
      if (details.open && !details.dataset.loaded) {
        details.dataset.loaded = "1";
        fillFolder(sub.path, inner).catch(showError);
      }
    });
    const item = element("li");
    item.append(details);
    list.append(item);
  }
  for (const file of folder.files) {
    const button = element("button", "file", file.name);
    button.type = "button";
    button.dataset.key = file.key;
    button.title = file.duration ? `${file.key} (${clock(file.duration)})` : file.key;
    button.addEventListener("click", () => openTranscript(file.key, null, false).catch(showError));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
  if (!path && !folder.folders.length && !folder.files.length) {
    list.append(element("li", "note", "No transcripts yet."));
  }
}

// --- the address keeps what is open, so a reload or a bookmark comes back to it ----------------
function remember(state) {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const [name, value] of Object.entries(state)) params.set(name, value);
  history.replaceState(null, "", "#" + params.toString());
}

async function restore() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("q")) {
    $("query").value = params.get("q");
    await search(params.get("q"));
  }
  if (params.get("key")) {
    await openTranscript(params.get("key"), null, false);
    const start = Number(params.get("t"));
    const position = lines.findIndex((line) => Number(line.dataset.start) === start);
    if (position >= 0) choose(position, false);
  }
}

fillFolder("", $("tree")).catch(showError);
restore().catch(showError);
