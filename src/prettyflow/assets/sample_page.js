// prettyflow sample page (prettyflow.sample_pages): filters, sorts and renders the
// rows of the JSON payload in #sample-data. Every text goes into the document with
// textContent (model output is untrusted); the page loads nothing from elsewhere.
(function () {
  "use strict";
  var started = performance.now();
  var data = JSON.parse(document.getElementById("sample-data").textContent);
  var systems = data.systems, metrics = data.metrics, rows = data.rows;
  var BASE = data.base, WRONG = data.wrong;
  var ANY = "any";

  // ------------------------------------------------------------------ helpers
  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    if (attributes) {
      Object.keys(attributes).forEach(function (key) {
        var value = attributes[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }
  // An entry is null where the system is not configured on the subset.
  function isEmpty(entry) { return entry !== null && entry[2].trim() === ""; }
  function isWrong(entry) { return WRONG !== null && entry !== null && entry[4][WRONG] === 1; }
  function score(entry, metric) { return entry === null ? null : entry[4][metric]; }
  // The difference to the foundation model, signed so that > 0 is a gain.
  function gain(row, system, metric) {
    if (BASE === null || system === BASE) return null;
    var mine = score(row[4][system], metric), base = score(row[4][BASE], metric);
    if (mine === null || base === null) return null;
    return metrics[metric].lower ? base - mine : mine - base;
  }
  function format(value) {
    if (value === null || value === undefined) return "n/a";
    return Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);
  }
  function signed(value) {
    var shown = format(Math.abs(value));
    return (Number(shown) === 0 ? "±" : value > 0 ? "+" : "−") + shown;
  }

  // -------------------------------------------------------------------- state
  var defaults = {
    subset: ANY, hidden: [], focus: ANY, metric: 0, delta: ANY, wrong: ANY, empty: ANY,
    q: "", sort: "data", dir: "asc", page: 0
  };
  var state = Object.assign({}, defaults);
  function readHash() {
    try {
      var params = new URLSearchParams(window.location.hash.slice(1));
      params.forEach(function (value, key) {
        if (!(key in defaults)) return;
        if (key === "hidden") state.hidden = value ? value.split(",").map(Number) : [];
        else if (key === "metric" || key === "page") state[key] = Number(value) || 0;
        else state[key] = value;
      });
    } catch (error) { /* no hash (e.g. an embedded data: page) */ }
    // An address written by hand (or for another page) falls back to the defaults.
    function index(value, length) {
      var number = Number(value);
      return value !== ANY && Number.isInteger(number) && number >= 0 && number < length;
    }
    if (state.subset !== ANY && !index(state.subset, data.subsets.length)) state.subset = ANY;
    if (state.focus !== ANY && !index(state.focus, systems.length)) state.focus = ANY;
    if (!index(state.metric, metrics.length)) state.metric = 0;
    state.hidden = state.hidden.filter(function (i) { return index(i, systems.length); });
    if (BASE === null || !metrics.length || ["gain", "loss", "tie"].indexOf(state.delta) < 0) state.delta = ANY;
    if (WRONG === null || ["yes", "no"].indexOf(state.wrong) < 0) state.wrong = ANY;
    if (["yes", "no"].indexOf(state.empty) < 0) state.empty = ANY;
    if (["data", "score", "gain", "length"].indexOf(state.sort) < 0 ||
        (!metrics.length && (state.sort === "score" || state.sort === "gain")) ||
        (BASE === null && state.sort === "gain")) state.sort = "data";
    if (state.dir !== "desc") state.dir = "asc";
    state.page = Math.max(0, Math.floor(state.page) || 0);
  }
  function writeHash() {
    var params = new URLSearchParams();
    Object.keys(defaults).forEach(function (key) {
      var value = key === "hidden" ? state.hidden.join(",") : String(state[key]);
      var fallback = key === "hidden" ? "" : String(defaults[key]);
      if (value !== fallback) params.set(key, value);
    });
    try { history.replaceState(null, "", "#" + params.toString()); } catch (error) { /* sandboxed */ }
  }

  // ---------------------------------------------------------------- filtering
  function shownSystems() {
    return systems.map(function (_, i) { return i; }).filter(function (i) {
      return state.hidden.indexOf(i) < 0;
    });
  }
  function focusSystems() {
    return state.focus === ANY ? shownSystems() : [Number(state.focus)];
  }
  var haystacks = null;
  function haystack(index) {
    if (haystacks === null) haystacks = new Array(rows.length);
    if (haystacks[index] === undefined) {
      var row = rows[index];
      haystacks[index] = [row[1], row[2], row[3]].concat(row[4].map(function (e) {
        return e === null ? "" : e[2] + "\n" + (e[1] || "") + "\n" + e[0];
      })).join("\n").toLowerCase();
    }
    return haystacks[index];
  }
  function matches(index) {
    var row = rows[index];
    if (state.subset !== ANY && row[0] !== Number(state.subset)) return false;
    var focus = focusSystems();
    if (state.wrong !== ANY) {
      var wrong = focus.some(function (s) { return isWrong(row[4][s]); });
      if ((state.wrong === "yes") !== wrong) return false;
    }
    if (state.empty !== ANY) {
      var empty = focus.some(function (s) { return isEmpty(row[4][s]); });
      if ((state.empty === "yes") !== empty) return false;
    }
    if (state.delta !== ANY) {
      var found = focus.some(function (s) {
        var d = gain(row, s, state.metric);
        if (d === null) return false;
        return state.delta === "gain" ? d > 0 : state.delta === "loss" ? d < 0 : d === 0;
      });
      if (!found) return false;
    }
    if (state.q && haystack(index).indexOf(state.q.toLowerCase()) < 0) return false;
    return true;
  }
  // The sort key of a row: null sorts last whatever the direction.
  function sortKey(index) {
    var row = rows[index];
    if (state.sort === "length") return row[2].length;
    var values = focusSystems().map(function (s) {
      return state.sort === "gain" ? gain(row, s, state.metric) : score(row[4][s], state.metric);
    }).filter(function (v) { return v !== null && v !== undefined; });
    if (!values.length) return null;
    // Several systems: the best one sorting descending, the worst ascending.
    return state.dir === "desc" ? Math.max.apply(null, values) : Math.min.apply(null, values);
  }
  function selection() {
    var chosen = [];
    for (var i = 0; i < rows.length; i++) if (matches(i)) chosen.push(i);
    if (state.sort !== "data") {
      var keys = {};
      chosen.forEach(function (i) { keys[i] = sortKey(i); });
      var direction = state.dir === "desc" ? -1 : 1;
      chosen.sort(function (a, b) {
        var ka = keys[a], kb = keys[b];
        if (ka === null && kb === null) return a - b;
        if (ka === null) return 1;
        if (kb === null) return -1;
        return ka === kb ? a - b : (ka < kb ? -direction : direction);
      });
    } else if (state.dir === "desc") {
      chosen.reverse();  // data order, last sentence first
    }
    return chosen;
  }

  // ---------------------------------------------------------------- controls
  function option(value, text) { return el("option", { value: String(value), text: text }); }
  function select(id, label, options, title) {
    var node = el("select", { id: id, title: title || null }, options);
    return el("label", { className: "control" }, [label + " ", node]);
  }
  function buildControls() {
    var controls = el("section", { id: "controls", "aria-label": "filters and sorting" });
    controls.appendChild(select("f-subset", "Subset", [option(ANY, "all")].concat(
      data.subsets.map(function (s, i) { return option(i, s.label); }))));
    controls.appendChild(select("f-focus", "Filter and sort on", [option(ANY, "any shown system")].concat(
      systems.map(function (s, i) { return option(i, s.label); })),
      "the system(s) whose answers the filters and the sort look at"));
    if (metrics.length) {
      controls.appendChild(select("f-metric", "Metric", metrics.map(function (m, i) {
        return option(i, m.label + (m.lower ? " (lower is better)" : ""));
      })));
    }
    if (BASE !== null && metrics.length) {
      controls.appendChild(select("f-delta", "vs " + systems[BASE].label, [
        option(ANY, "any"), option("gain", "gain"), option("loss", "loss"), option("tie", "tie")
      ], "a gain or loss against the foundation model on the metric"));
    }
    if (WRONG !== null) {
      controls.appendChild(select("f-wrong", "Wrong language", [
        option(ANY, "any"), option("yes", "yes"), option("no", "no")]));
    }
    controls.appendChild(select("f-empty", "Empty answer", [
      option(ANY, "any"), option("yes", "yes"), option("no", "no")]));
    controls.appendChild(el("label", { className: "control" }, ["Text ",
      el("input", { id: "f-text", type: "search", placeholder: "in source, reference, answers" })]));
    var sorts = [option("data", "data order")];
    if (metrics.length) sorts.push(option("score", "score on the metric"));
    if (BASE !== null && metrics.length) sorts.push(option("gain", "gain vs " + systems[BASE].label));
    sorts.push(option("length", "source length"));
    controls.appendChild(select("f-sort", "Sort by", sorts));
    controls.appendChild(select("f-dir", "", [option("asc", "ascending"), option("desc", "descending")]));
    controls.appendChild(el("button", { id: "f-reset", type: "button", text: "Reset" }));
    var boxes = el("fieldset", { id: "f-systems" }, [el("legend", { text: "Systems shown" })]);
    systems.forEach(function (s, i) {
      boxes.appendChild(el("label", { className: "system role-" + s.role }, [
        el("input", { type: "checkbox", id: "f-sys-" + i, "data-system": String(i) }), " " + s.label]));
    });
    controls.appendChild(boxes);
    return controls;
  }
  function syncControls() {
    var pairs = { "f-subset": "subset", "f-focus": "focus", "f-metric": "metric", "f-delta": "delta",
      "f-wrong": "wrong", "f-empty": "empty", "f-sort": "sort", "f-dir": "dir", "f-text": "q" };
    Object.keys(pairs).forEach(function (id) {
      var node = document.getElementById(id);
      if (node) node.value = String(state[pairs[id]]);
    });
    systems.forEach(function (_, i) {
      document.getElementById("f-sys-" + i).checked = state.hidden.indexOf(i) < 0;
    });
  }
  function listen() {
    var pairs = { "f-subset": "subset", "f-focus": "focus", "f-metric": "metric", "f-delta": "delta",
      "f-wrong": "wrong", "f-empty": "empty", "f-sort": "sort", "f-dir": "dir" };
    Object.keys(pairs).forEach(function (id) {
      var node = document.getElementById(id);
      if (!node) return;
      node.addEventListener("change", function () {
        state[pairs[id]] = pairs[id] === "metric" ? Number(node.value) : node.value;
        state.page = 0;
        update();
      });
    });
    var text = document.getElementById("f-text"), timer = null;
    text.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.q = text.value; state.page = 0; update(); }, 150);
    });
    systems.forEach(function (_, i) {
      document.getElementById("f-sys-" + i).addEventListener("change", function (event) {
        state.hidden = state.hidden.filter(function (h) { return h !== i; });
        if (!event.target.checked) state.hidden.push(i);
        state.hidden.sort(function (a, b) { return a - b; });
        update();
      });
    });
    document.getElementById("f-reset").addEventListener("click", function () {
      state = Object.assign({}, defaults, { hidden: [] });
      syncControls();
      update();
    });
  }

  // ----------------------------------------------------------------- summary
  function summary(chosen) {
    var metric = state.metric, shown = shownSystems(), scored = metrics.length > 0;
    var head = ["System", "Sentences"];
    if (scored) head.push("Mean per-sample " + metrics[metric].label);
    if (BASE !== null && scored) head.push("Gain / loss / tie vs " + systems[BASE].label);
    if (WRONG !== null) head.push("Wrong language");
    head.push("Empty answers");
    var table = el("table", { className: "summary" }, [el("thead", null, [el("tr", null,
      head.map(function (h) { return el("th", { text: h }); }))])]);
    var body = el("tbody");
    shown.forEach(function (s) {
      var total = 0, count = 0, wins = 0, losses = 0, ties = 0, wrong = 0, empty = 0, n = 0;
      chosen.forEach(function (i) {
        var entry = rows[i][4][s];
        if (entry === null) return;  // not configured on this row's subset
        n++;
        if (scored) {
          var value = score(entry, metric);
          if (value !== null) { total += value; count++; }
          var d = gain(rows[i], s, metric);
          if (d !== null) { if (d > 0) wins++; else if (d < 0) losses++; else ties++; }
        }
        if (isWrong(entry)) wrong++;
        if (isEmpty(entry)) empty++;
      });
      var cells = [systems[s].label, String(n)];
      if (scored) cells.push(count ? format(total / count) : "n/a");
      if (BASE !== null && scored) cells.push(s === BASE ? "–" : wins + " / " + losses + " / " + ties);
      if (WRONG !== null) cells.push(n ? wrong + " (" + (100 * wrong / n).toFixed(1) + "%)" : "–");
      cells.push(n ? empty + " (" + (100 * empty / n).toFixed(1) + "%)" : "–");
      body.appendChild(el("tr", { className: "role-" + systems[s].role },
        cells.map(function (c, i) { return el(i ? "td" : "th", { text: c }); })));
    });
    table.appendChild(body);
    return table;
  }

  // -------------------------------------------------------------------- rows
  // The answer with the prior highlighted where the answer starts with it.
  function answerNode(text, prior, className) {
    var node = el("div", { className: className });
    if (prior && text.indexOf(prior) === 0) {
      node.appendChild(el("mark", { className: "prior", title: "the prior", text: prior }));
      node.appendChild(document.createTextNode(text.slice(prior.length)));
    } else {
      node.textContent = text;
    }
    if (text.trim() === "") node.appendChild(el("span", { className: "empty-note", text: "(empty answer)" }));
    return node;
  }
  function originNode(entry, row) {
    var prior = entry[0], origin = entry[3];
    if (!origin) return null;
    var node = el("div", { className: "origin" });
    if (prior) node.appendChild(el("span", { className: "origin-prior" }, ["prior ", el("mark", { className: "prior", text: prior })]));
    else node.appendChild(el("span", { className: "origin-prior", text: "no prior" }));
    var source = origin.text;
    if (origin.sys !== undefined) source = row[4][origin.sys][2];
    node.appendChild(document.createTextNode(" from " + origin.from));
    if (origin.sys !== undefined) node.appendChild(document.createTextNode(" (" + systems[origin.sys].label + ")"));
    if (source) {
      node.appendChild(document.createTextNode(": "));
      node.appendChild(el("q", null, [answerNode(source, prior, "origin-text")]));
    }
    if (origin.detail) node.appendChild(el("div", { className: "origin-detail", text: origin.detail }));
    return node;
  }
  function scoreCell(row, s, m) {
    var entry = row[4][s], value = score(entry, m);
    if (entry === null) return el("td", { text: "n/a" });
    if (m === WRONG) {
      var language = entry[5] ? "detected: " + entry[5] : "no language detected";
      return el("td", { className: "flag " + (value === 1 ? "bad" : value === 0 ? "good" : ""), title: language },
        [value === 1 ? "yes" : value === 0 ? "no" : "n/a", el("small", { text: entry[5] || "–" })]);
    }
    var cell = el("td", { text: format(value) });
    var d = gain(row, s, m);
    if (d !== null) {
      cell.appendChild(el("small", { className: d > 0 ? "up" : d < 0 ? "down" : "same", text: signed(d) }));
    }
    return cell;
  }
  function rowNode(index) {
    var row = rows[index];
    var article = el("article", { className: "sample", "data-id": row[1], "data-subset": data.subsets[row[0]].name });
    article.appendChild(el("header", null, [
      el("span", { className: "subset", text: data.subsets[row[0]].label }),
      el("span", { className: "sample-id", text: row[1] })]));
    var source = el("p", { className: "text clamped", title: "click to show all", text: row[2] });
    source.addEventListener("click", function () { source.classList.toggle("clamped"); });
    var reference = el("p", { className: "text", text: row[3] });
    article.appendChild(el("div", { className: "texts" }, [
      el("div", null, [el("h3", { text: "Source" }), source]),
      el("div", null, [el("h3", { text: "Reference" }), reference])]));
    var head = el("tr", null, [el("th", { text: "System" }), el("th", { text: "Answer (prior highlighted)" })].concat(
      metrics.map(function (m) { return el("th", { text: m.label + (m.lower ? " ↓" : "") }); })));
    var body = el("tbody");
    shownSystems().forEach(function (s) {
      var entry = row[4][s];
      if (entry === null) {
        body.appendChild(el("tr", { className: "system not-configured role-" + systems[s].role, "data-system": systems[s].name },
          [el("th", { text: systems[s].label }), el("td", { className: "answer-cell", text: "n/a: not configured on this subset" })]
            .concat(metrics.map(function () { return el("td", { text: "n/a" }); }))));
        return;
      }
      var classes = "system role-" + systems[s].role + (isWrong(entry) ? " wrong" : "") + (isEmpty(entry) ? " empty" : "");
      var answer = el("td", { className: "answer-cell" }, [answerNode(entry[2], entry[0], "answer"), originNode(entry, row)]);
      if (entry[1] !== null) {
        answer.appendChild(el("details", { className: "raw" }, [
          el("summary", { text: "raw answer (before cleaning)" }), answerNode(entry[1], entry[0], "raw-text")]));
      }
      body.appendChild(el("tr", { className: classes, "data-system": systems[s].name },
        [el("th", { text: systems[s].label }), answer].concat(metrics.map(function (_, m) { return scoreCell(row, s, m); }))));
    });
    article.appendChild(el("table", { className: "answers" }, [el("thead", null, [head]), body]));
    return article;
  }

  // ------------------------------------------------------------------ render
  var view = null;
  function pager(chosen, pages) {
    var first = state.page * data.pageSize;
    var previous = el("button", { type: "button", className: "previous", text: "‹ previous", disabled: state.page <= 0 });
    var next = el("button", { type: "button", className: "next", text: "next ›", disabled: state.page >= pages - 1 });
    previous.addEventListener("click", function () { state.page--; update(true); });
    next.addEventListener("click", function () { state.page++; update(true); });
    var shown = chosen.length ? (first + 1) + "–" + Math.min(first + data.pageSize, chosen.length) : "0";
    return el("nav", { className: "pager" }, [previous,
      el("span", { className: "count", text: shown + " of " + chosen.length + " sentences" +
        (chosen.length === rows.length ? "" : " (filtered from " + rows.length + ")") +
        ", page " + (pages ? state.page + 1 : 0) + " of " + pages }), next]);
  }
  function update(scroll) {
    var chosen = selection();
    var pages = Math.ceil(chosen.length / data.pageSize);
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    writeHash();
    view.summary.replaceChildren(summary(chosen));
    view.top.replaceChildren(pager(chosen, pages));
    view.bottom.replaceChildren(pager(chosen, pages));
    var fragment = document.createDocumentFragment();
    chosen.slice(state.page * data.pageSize, (state.page + 1) * data.pageSize).forEach(function (i) {
      fragment.appendChild(rowNode(i));
    });
    view.rows.replaceChildren(fragment);
    if (chosen.length === 0) view.rows.appendChild(el("p", { className: "nothing", text: "No sentence matches the filters." }));
    if (scroll) view.top.scrollIntoView();
    window.samplePage.shown = chosen.map(function (i) { return rows[i][1]; });
  }

  function build() {
    var intro = "One row per test sentence: its source and reference, and for each system the answer " +
      "(cleaned as scored; the prior highlighted, with where it came from; the raw answer where cleaning " +
      "changed it) and its per-sample scores, with the difference to " +
      (BASE !== null ? systems[BASE].label + " (the foundation model)" : "the foundation model") + ".";
    var lower = metrics.filter(function (m) { return m.lower; }).map(function (m) { return m.label; });
    if (lower.length) intro += " Lower is better for " + lower.join(", ") + " (↓); a gain there is a lower value.";
    if (data.notScored.length) intro += " Not computed, so not shown: " + data.notScored.join(", ") + ".";
    document.body.appendChild(el("header", { id: "top" }, [el("h1", { text: data.title }), el("p", { className: "intro", text: intro })]));
    document.body.appendChild(buildControls());
    view = { summary: el("section", { id: "summary" }), top: el("div"), rows: el("div", { id: "rows" }), bottom: el("div") };
    [view.summary, view.top, view.rows, view.bottom].forEach(function (node) { document.body.appendChild(node); });
    readHash();
    syncControls();
    listen();
    update();
  }

  window.samplePage = { data: data, state: function () { return state; }, shown: [] };
  build();
  window.samplePage.renderMs = performance.now() - started;
})();
