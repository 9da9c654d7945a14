"use strict";
// fvlm-eval question browser. Every text from the data is put in the page with textContent or as
// an attribute value: never parsed as HTML.
(function () {
  const started = performance.now();
  const DATA = JSON.parse(document.getElementById("fvlm-data").textContent);
  const PAGE = 25;
  const BASE64 = /^[A-Za-z0-9+/=]*$/;
  const protocols = DATA.protocols.map((p) => p.name);
  const state = { benchmark: "", mode: "", category: "", run: "0", protocol: "", outcome: "", flip: "", search: "", page: 0 };
  const open = new Set();

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  // per result, one character (pred, correct) or one list (scores) per protocol, in DATA.protocols' order
  const position = {};
  DATA.protocols.forEach((p, i) => { position[p.name] = i; });
  function predOf(result, protocol) {
    const c = result.pred.charAt(position[protocol]);
    return c === "" || c === "-" ? undefined : c === "." ? null : c;
  }
  function rightOf(result, protocol) {
    const c = result.correct.charAt(position[protocol]);
    return c === "1" ? true : c === "0" ? false : undefined;
  }
  function scoresOf(result, protocol) { return result.scores[position[protocol]] || null; }

  // (question, mode) items, each with its result per run
  const items = new Map();
  for (const [q, r, m, pred, correct, scores, gen, error, frames, strip, byModel] of DATA.results) {
    const mode = DATA.modes[m];
    const key = q + "|" + mode;
    if (!items.has(key)) items.set(key, { q: q, mode: mode, runs: {} });
    // byModel: a failure the model caused (its answer, wrong); else its data failed (no answer)
    // strip: the thumbnails of what this run's model saw (its sampling, its frame transform), an index in DATA.media
    items.get(key).runs[r] = { pred: pred, correct: correct, scores: scores, gen: gen, error: error, frames: frames, strip: strip, byModel: byModel === 1 };
  }
  const list = Array.from(items.values());
  const modes = Array.from(new Set(list.map((i) => i.mode))).sort();
  // the filter starts on the runs' headline protocol (what their tables lead with), not the first listed
  const headline = DATA.headline && DATA.headline in position ? DATA.headline : (DATA.protocols.length ? DATA.protocols[0].name : "");
  state.protocol = headline;
  function protocolLabel(p) {
    const framing = p.formulation === "cloze" && DATA.framings && DATA.framings.length ? ", " + DATA.framings.join("/") + " framing" : "";
    return p.name + " (" + p.formulation + framing + ")" + (p.name === headline ? ": headline" : "");
  }

  function category(question) {
    const info = DATA.benchmarks[question.b];
    return info ? (question.fields[info.category] || "") : "";
  }

  // "right", "wrong", "model failed" (the model's answer, wrong), "data failed" (its media or row could not be
  // read: no answer, so never a flip, as regress and track pair questions), or null (not recorded)
  function outcome(item, run, protocol) {
    const result = item.runs[run];
    if (!result) return null;
    if (result.error) return result.byModel ? "model failed" : "data failed";
    const right = rightOf(result, protocol);
    if (right === undefined) return null;
    return right ? "right" : "wrong";
  }

  function matches(item) {
    const question = DATA.questions[item.q];
    if (state.benchmark && question.b !== state.benchmark) return false;
    if (state.mode && item.mode !== state.mode) return false;
    if (state.category && JSON.stringify([question.b, category(question)]) !== state.category) return false;
    if (state.outcome) {
      const found = outcome(item, state.run, state.protocol);
      if (state.outcome === "correct" && found !== "right") return false;
      const failed = found === "model failed" || found === "data failed";
      if (state.outcome === "wrong" && found !== "wrong" && !failed) return false;
      if (state.outcome === "failed" && !failed) return false;
    }
    if (state.flip) {
      const [a, b, how] = state.flip.split(":");
      const first = outcome(item, a, state.protocol), second = outcome(item, b, state.protocol);
      if (first === null || second === null) return false;
      const unasked = [first, second].filter((found) => found === "data failed").length;
      if (how === "failed") {
        if (unasked !== 1) return false;
      } else {
        if (unasked) return false;  // no answer in a run: neither lost nor gained
        const wasRight = first === "right", isRight = second === "right";
        if (wasRight === isRight) return false;
        if (how === "lost" && !wasRight) return false;
        if (how === "gained" && wasRight) return false;
      }
    }
    if (state.search) {
      const needle = state.search.toLowerCase();
      const hay = (question.id + " " + (question.q || "")).toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }

  function select(id, label, options, value) {
    const node = el("select", { id: id });
    for (const [optionValue, text] of options) {
      const option = el("option", { value: optionValue, text: text });
      if (optionValue === value) option.selected = true;
      node.append(option);
    }
    const named = () => { node.title = node.selectedIndex >= 0 ? node.options[node.selectedIndex].text : ""; };
    named();  // a long choice is cut at the select's width: the whole of it shows on hover
    node.addEventListener("change", () => {
      named();
      state[id.replace("f-", "")] = node.value;
      if (id === "f-benchmark") state.category = "";  // another benchmark's categories do not apply
      state.page = 0;
      update();
    });
    return el("label", {}, label, node);
  }

  function categoryOptions() {
    const seen = new Map();
    for (const question of DATA.questions) {
      if (state.benchmark && question.b !== state.benchmark) continue;
      const value = category(question);
      const title = DATA.benchmarks[question.b] ? DATA.benchmarks[question.b].title : question.b;
      seen.set(JSON.stringify([question.b, value]), title + ": " + (value || "(none)"));
    }
    return [["", "all"]].concat(Array.from(seen.entries()).sort((x, y) => x[1].localeCompare(y[1])));
  }

  function flipOptions() {
    const options = [["", "no"]];
    const shared = (a, b) => list.some((i) => a in i.runs && b in i.runs);
    const unasked = (result) => Boolean(result.error) && !result.byModel;  // its data failed: no answer
    const oneFailed = (a, b) => list.some((i) => a in i.runs && b in i.runs && unasked(i.runs[a]) !== unasked(i.runs[b]));
    for (let a = 0; a < DATA.runs.length; a++) {
      for (let b = a + 1; b < DATA.runs.length; b++) {
        if (!shared(a, b)) continue;
        options.push([a + ":" + b + ":any", "flipped: " + DATA.runs[a] + " vs " + DATA.runs[b]]);
        options.push([a + ":" + b + ":lost", "right in " + DATA.runs[a] + ", wrong in " + DATA.runs[b]]);
        options.push([a + ":" + b + ":gained", "wrong in " + DATA.runs[a] + ", right in " + DATA.runs[b]]);
        if (oneFailed(a, b)) options.push([a + ":" + b + ":failed", "data failed in one of " + DATA.runs[a] + ", " + DATA.runs[b] + " only (no flip)"]);
      }
    }
    return options;
  }

  function buildFilters() {
    const box = document.getElementById("filters");
    box.replaceChildren();
    const benchmarks = [["", "all"]].concat(Object.entries(DATA.benchmarks).map(([b, info]) => [b, info.title]));
    box.append(select("f-benchmark", "benchmark", benchmarks, state.benchmark));
    box.append(select("f-mode", "mode", [["", "all"]].concat(modes.map((m) => [m, m])), state.mode));
    box.append(select("f-category", "category", categoryOptions(), state.category));
    box.append(select("f-protocol", "protocol", DATA.protocols.map((p) => [p.name, protocolLabel(p)]), state.protocol));
    box.append(select("f-run", "run", DATA.runs.map((name, i) => [String(i), name]), state.run));
    box.append(select("f-outcome", "answer", [["", "any"], ["correct", "correct"], ["wrong", "wrong (or failed)"], ["failed", "failed"]], state.outcome));
    const flips = flipOptions();
    if (flips.length > 1) box.append(select("f-flip", "flipped between runs", flips, state.flip));
    const search = el("input", { id: "f-search", type: "search", placeholder: "id or question text" });
    search.value = state.search;
    search.addEventListener("input", () => { state.search = search.value; state.page = 0; update(false); });
    box.append(el("label", {}, "search", search));
  }

  function mark(result, protocol, gold) {
    if (!result) return el("span", { class: "note", text: "—" });
    if (result.error) {
      const why = result.byModel ? "the model failed: a wrong answer" : "its data failed (media or row): no answer, never a flip";
      return el("span", { class: "failed", title: why, text: "failed" });
    }
    const letter = predOf(result, protocol);
    if (letter === undefined) return el("span", { class: "note", text: "n/m" });
    const right = rightOf(result, protocol);
    return el("span", { class: right ? "right" : "wrong", text: (letter === null ? "none" : letter) + (right ? " ✓" : " ✗") });
  }

  function frames(question, strip) {
    const box = el("div", { class: "frames" });
    const media = strip === null || strip === undefined ? null : DATA.media[strip];
    if (!media || !media.jpeg || !BASE64.test(media.jpeg)) {
      const why = media && media.note ? media.note : (question.missing_frames || "frames not available");
      box.append(el("p", { class: "note frames-missing", text: why }));
      return box;
    }
    const image = el("img", { alt: "sampled frames of " + media.key, loading: "lazy", decoding: "async", class: "strip" });
    image.src = "data:image/jpeg;base64," + media.jpeg;
    const labels = el("div", { class: "frames" });
    media.labels.forEach((text, i) => labels.append(el("span", { style: "width:" + Number(media.widths[i]) + "px;font-size:11px" }, text)));
    box.append(el("figure", {}, image, labels,
      el("figcaption", { text: media.labels.length + " of " + media.sampled + " sampled frames (#: frame index; " + media.source + ")" })));
    return box;
  }

  function scoreTable(result, question) {
    const letters = question.letters;
    const table = el("table", { class: "scores" });
    table.append(el("thead", {}, el("tr", {}, el("th", { text: "protocol" }), el("th", { text: "choice" }),
      ...letters.map((l) => el("th", { text: l + (l === question.gold ? " (gold)" : "") })))));
    const body = el("tbody");
    let formulation = null;
    for (const protocol of DATA.protocols) {
      if (predOf(result, protocol.name) === undefined && !scoresOf(result, protocol.name)) continue;
      if (protocol.formulation !== formulation) {
        formulation = protocol.formulation;
        const th = el("th", { colspan: String(2 + letters.length), text: DATA.formulations[formulation] || formulation });
        body.append(el("tr", { class: "formulation" }, th));
      }
      const choice = predOf(result, protocol.name);
      const name = protocol.name + (protocol.lower ? " (lowest wins)" : "");
      const row = el("tr", {}, el("td", { title: protocol.label, text: name }), el("td", {}, mark(result, protocol.name, question.gold)));
      const scores = scoresOf(result, protocol.name);
      letters.forEach((letter, i) => {
        const value = scores ? scores[i] : null;
        row.append(el("td", { class: letter === choice ? "chosen" : "", text: value === null || value === undefined ? "" : String(value) }));
      });
      body.append(row);
    }
    table.append(body);
    return table;
  }

  function detail(item) {
    const question = DATA.questions[item.q];
    const box = el("div", { class: "detail" });
    // one strip when every run saw the media alike, else each run's own under its name (another --frames, or
    // fVLM's transparent image on black beside SmolVLM2's on white)
    const strips = new Set(Object.values(item.runs).map((result) => result.strip));
    const shared = strips.size === 1;
    if (shared) box.append(frames(question, strips.values().next().value));
    if (question.q === undefined) {
      box.append(el("p", { class: "missing", text: question.changed ? question.missing : "question text not available: " + (question.missing || "") }));
    } else {
      box.append(el("p", { class: "text question-text", text: question.q }));
    }
    if (question.context) box.append(el("details", {}, el("summary", { text: "context" }), el("p", { class: "text", text: question.context })));
    if (question.subtitles) box.append(el("details", {}, el("summary", { text: "subtitles" }), el("p", { class: "text", text: question.subtitles })));
    const options = el("table", { class: "options" }, el("thead", {}, el("tr", {}, el("th", { text: "letter" }), el("th", { text: "option" }))));
    const body = el("tbody");
    for (const [letter, text] of question.options) {
      body.append(el("tr", { class: letter === question.gold ? "gold" : "" }, el("td", { text: letter + (letter === question.gold ? " (gold)" : "") }),
        el("td", { class: "text option-text", text: text === null ? "(text not available)" : text })));
    }
    options.append(body);
    box.append(options);
    for (const [run, result] of Object.entries(item.runs)) {
      box.append(el("h4", { text: DATA.runs[run] + " · " + item.mode }));
      if (!shared) box.append(frames(question, result.strip));
      if (result.error) {
        const why = result.byModel ? "the model failed (counts as wrong): " : "its data failed (counts as wrong in the accuracy; no answer, so never a flip between runs): ";
        box.append(el("p", { class: "failed", text: why + result.error }));
      }
      box.append(scoreTable(result, question));
      if (result.gen) {
        const [text, letter, status, error] = result.gen;
        const shown = text ? text.replace(/\r?\n/g, "⏎") : "(empty)";  // line breaks visible, not blank lines
        box.append(el("p", {}, "generated: ", el("q", { class: "generated-text", text: shown }),
          " → letter read: " + (letter || "none") + " (" + (status || "") + ")" + (error ? "; error: " + error : "")));
      }
      if (result.frames) {
        const [first, last, count] = result.frames;
        box.append(el("p", { class: "note", text: "the model saw " + count + " sampled frames, " + first + " to " + last }));
      }
    }
    return box;
  }

  function pager(id, pages) {
    const box = document.getElementById(id);
    box.replaceChildren();
    const previous = el("button", { type: "button", class: "previous", text: "‹ previous" });
    const next = el("button", { type: "button", class: "next", text: "next ›" });
    previous.disabled = state.page <= 0;
    next.disabled = state.page >= pages - 1;
    previous.addEventListener("click", () => { state.page--; update(false); });
    next.addEventListener("click", () => { state.page++; update(false); });
    box.append(previous, next, el("span", { text: "page " + (pages ? state.page + 1 : 0) + " of " + pages }));
  }

  function render(shown) {
    const table = document.getElementById("questions");
    const head = el("tr", {}, ...["id", "benchmark", "mode", "category", "gold"].map((h) => el("th", { text: h })),
      ...DATA.runs.map((name) => el("th", { text: name + " [" + state.protocol + "]" })));
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    body.replaceChildren();
    const pages = Math.ceil(shown.length / PAGE);
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    for (const item of shown.slice(state.page * PAGE, (state.page + 1) * PAGE)) {
      const question = DATA.questions[item.q];
      const key = item.q + "|" + item.mode;
      const row = el("tr", { class: "item", "data-key": key, tabindex: "0" },
        el("td", { class: "qid", text: question.id }), el("td", { text: question.b }), el("td", { text: item.mode }),
        el("td", { text: category(question) }), el("td", { text: question.gold || "" }),
        ...DATA.runs.map((_, r) => el("td", {}, mark(item.runs[r], state.protocol, question.gold))));
      const toggle = () => { if (open.has(key)) open.delete(key); else open.add(key); update(false); };
      row.addEventListener("click", toggle);
      row.addEventListener("keydown", (event) => { if (event.key === "Enter") toggle(); });
      body.append(row);
      if (open.has(key)) {
        row.classList.add("open");
        body.append(el("tr", { class: "detail-row" }, el("td", { colspan: String(5 + DATA.runs.length) }, detail(item))));
      }
    }
    pager("pager-top", pages);
    pager("pager-bottom", pages);
    document.getElementById("count").textContent = shown.length + " of " + list.length + " questions (per mode) match";
  }

  function update(rebuild = true) {
    if (rebuild) buildFilters();
    render(list.filter(matches));
  }

  update();
  window.fvlmReport = { questions: DATA.questions.length, results: DATA.results.length, renderMs: performance.now() - started };
  document.body.setAttribute("data-ready", "1");
})();
