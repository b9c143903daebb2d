// The transcripts page: a folder tree, a search box, and a transcript whose lines play the
// recording from their start. Never reloads itself (someone may be listening); every text from
// the server goes into the page as text (textContent), never as HTML.
// The address holds the page's state (/transcripts?q=...&folder=...&lang=...&key=...&t=...):
// a search is a new history entry (back and forward move between searches), choosing a moment
// replaces the current one; opening such a link shows the same hits and the recording ready at
// that moment.
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
function filters() {
  return {folder: $("folder").value, lang: $("lang").value};
}

async function search(query) {
  $("error").hidden = true;
  const params = new URLSearchParams({limit: "100", q: query, ...filters()});
  const hits = await getJSON("/api/search?" + params.toString());
  const list = $("hits");
  list.replaceChildren();
  $("results-title").textContent = hits.length
    ? `${hits.length}${hits.length === 100 ? "+" : ""} match${hits.length === 1 ? "" : "es"} for ${query}`
    : `Nothing matches ${query}`;
  for (const hit of hits) {
    const soundsLike = hit.kind === "sounds like";
    const button = element("button", soundsLike ? "hit sounds-like" : "hit");
    button.type = "button";
    button.dataset.key = hit.key;
    button.dataset.start = hit.start;
    button.dataset.kind = hit.kind;
    const where = element("span", "where",
      `${hit.key} · ${clock(hit.start)}${hit.language ? " · " + hit.language : ""}`);
    if (soundsLike) where.append(element("span", "kind", "sounds like"));
    button.append(where);
    button.append(markedText(hit.text, hit.matches));
    button.addEventListener("click",
      () => openTranscript(hit.key, hit.segment, true).catch(showError));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
  $("results").hidden = false;
  $("intro").hidden = true;
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = $("query").value.trim();
  if (!query) return;
  search(query).then(() => remember({q: query, ...filters()}, true)).catch(showError);
});

// --- one transcript ---------------------------------------------------------------------------
async function openTranscript(key, segment, play) {
  $("error").hidden = true;
  if (openKey !== key) {
    const transcript = await getJSON("/api/transcript?key=" + encodeURIComponent(key));
    openKey = key;
    $("transcript-title").textContent = key;
    $("transcript-language").textContent = transcript.language || "";
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
  else remember({key: key, t: ""}, false);
}

// Plays from `at` (the line's start unless given); before the metadata is in, the seek waits.
function choose(position, play, at) {
  const line = lines[position];
  const start = at === undefined ? Number(line.dataset.start) : at;
  for (const other of lines) other.classList.toggle("chosen", other === line);
  line.scrollIntoView({block: "center"});
  const go = () => {
    player.currentTime = start;
    if (play) player.play().catch(() => {});  // autoplay refused: the seek still stands
  };
  if (player.readyState >= 1) go();
  else player.addEventListener("loadedmetadata", go, {once: true});
  remember({key: openKey, t: start}, false);
}

// The line being said at `seconds`: the last one starting at or before it.
function lineAt(seconds) {
  let found = 0;
  lines.forEach((line, position) => {
    if (Number(line.dataset.start) <= seconds + 0.05) found = position;
  });
  return found;
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

// --- the address keeps what is open: a bookmark, a sent link or back/forward come back to it --
// A new search pushes an entry (it starts without a chosen recording); choosing a moment
// replaces the entry, so back goes to the previous search rather than through every click.
function remember(state, newEntry) {
  const params = newEntry ? new URLSearchParams() : new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(state)) {
    if (value === "" || value === null || value === undefined) params.delete(name);
    else params.set(name, name === "t" ? Number(value).toFixed(2).replace(/\.?0+$/, "") : value);
  }
  const address = location.pathname + (params.toString() ? "?" + params.toString() : "");
  if (address === location.pathname + location.search) return;
  if (newEntry) history.pushState(null, "", address);
  else history.replaceState(null, "", address);
}

function showNoSearch() {
  $("query").value = "";
  $("hits").replaceChildren();
  $("results").hidden = true;
}

async function restore() {
  // Links made before the address moved into the query string: #key=...&t=...
  const params = new URLSearchParams(location.search || location.hash.slice(1));
  $("folder").value = params.get("folder") || "";
  $("lang").value = params.get("lang") || "";
  if (params.get("q")) {
    $("query").value = params.get("q");
    await search(params.get("q"));
  } else {
    showNoSearch();
  }
  if (params.get("key")) {
    await openTranscript(params.get("key"), null, false);
    const at = Number(params.get("t") || 0);
    if (lines.length) choose(lineAt(at), false, at);
  }
  document.body.dataset.restored = "1";  // for tests and scripts: the link is shown
}

// The choices of the filters, then what the address says.
async function fillFilters() {
  const choices = await getJSON("/api/filters");
  for (const path of choices.folders) $("folder").append(new Option(path, path));
  for (const {language, recordings} of choices.languages) {
    $("lang").append(new Option(`${language} (${recordings})`, language));
  }
}

window.addEventListener("popstate", () => restore().catch(showError));
fillFolder("", $("tree")).catch(showError);
fillFilters().catch(showError).then(restore).catch(showError);
