// zen_mlmd web view: draws the graphs (Cytoscape.js with the dagre layout),
// opens a step's details beside the run's graph, and refreshes a running
// run's statuses. Everything else is rendered by the server.
(function () {
  "use strict";

  var STATUS_COLORS = {
    completed: "#2e7d32", cached: "#0277bd", failed: "#c62828", running: "#ef8f00",
    interrupted: "#8d6e63", canceled: "#757575", pending: "#9e9e9e", unknown: "#9e9e9e"
  };
  window.zenGraphs = {};

  function graphStyle() {
    var style = [
      { selector: "node", style: {
        "label": "data(label)", "font-size": 12, "font-family": "system-ui, sans-serif",
        "text-valign": "center", "text-halign": "center", "color": "#fff",
        "text-wrap": "ellipsis", "text-max-width": 150 } },
      { selector: "node.step", style: {
        "shape": "round-rectangle", "width": 160, "height": 38, "background-color": "#9e9e9e",
        "border-width": 0 } },
      { selector: "node.artifact", style: {
        "shape": "round-tag", "width": 14, "height": 14, "background-color": "#cfd8dc",
        "border-width": 1, "border-color": "#90a4ae", "color": "#37474f", "font-size": 11,
        "text-valign": "bottom", "text-margin-y": 3, "text-max-width": 120 } },
      { selector: "node.artifact.root", style: {
        "background-color": "#ffd54f", "border-color": "#f57f17", "width": 20, "height": 20 } },
      { selector: "$node > node", style: {
        "padding": 14, "text-valign": "top", "text-halign": "center", "color": "#455a64",
        "font-size": 12, "font-weight": "bold", "background-color": "#eceff1", "background-opacity": 0.6,
        "border-width": 1, "border-style": "dashed", "border-color": "#90a4ae", "shape": "round-rectangle" } },
      { selector: "edge", style: {
        "width": 1.5, "line-color": "#b0bec5", "target-arrow-color": "#b0bec5",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } },
      { selector: "node:selected, node.selected", style: { "border-width": 3, "border-color": "#1a237e" } },
      { selector: "node.step.running", style: { "border-width": 3, "border-color": "#ffe082", "border-style": "dashed" } }
    ];
    Object.keys(STATUS_COLORS).forEach(function (status) {
      style.push({ selector: "node.step." + status, style: { "background-color": STATUS_COLORS[status] } });
    });
    return style;
  }

  function drawGraph(container) {
    var data = document.getElementById(container.getAttribute("data-elements-id"));
    if (!data || typeof cytoscape === "undefined") { return null; }
    var elements = JSON.parse(data.textContent);
    var cy = cytoscape({
      container: container, elements: elements, style: graphStyle(),
      minZoom: 0.1, maxZoom: 3, boxSelectionEnabled: false, autoungrabify: true
    });
    cy.layout({ name: "dagre", rankDir: container.getAttribute("data-rank-dir") || "LR",
                nodeSep: 24, rankSep: 60, edgeSep: 10, padding: 16, animate: false }).run();
    // as tall as the graph needs at a readable zoom, within bounds
    var box = cy.elements().boundingBox();
    var width = container.clientWidth || 800;
    var zoom = Math.min(1.1, (width - 32) / Math.max(box.w, 1));
    var height = Math.max(220, Math.min(680, box.h * Math.max(zoom, 0.35) + 48));
    container.style.height = height + "px";
    cy.resize();
    cy.fit(undefined, 16);
    if (cy.zoom() > 1.1) { cy.zoom(1.1); cy.center(); }
    container.setAttribute("data-rendered", "true");
    container.setAttribute("data-node-count", String(cy.nodes().length));
    window.zenGraphs[container.id] = cy;
    return cy;
  }

  // -- a run's page ---------------------------------------------------------------
  function selectStep(cy, executionId) {
    if (!cy) { return; }
    cy.nodes().removeClass("selected");
    cy.$id("step:" + executionId).addClass("selected");
  }

  function openStep(url, executionId, cy) {
    var panel = document.getElementById("step-panel");
    if (!panel) { window.location.href = url; return; }
    panel.classList.add("loading");
    fetch(url, { headers: { "Accept": "text/html" } }).then(function (response) {
      return response.text().then(function (html) { return { ok: response.ok, html: html }; });
    }).then(function (result) {
      panel.classList.remove("loading");
      if (result.ok) {
        panel.innerHTML = result.html;
      } else {
        var doc = new DOMParser().parseFromString(result.html, "text/html");
        var message = doc.querySelector(".error-message");
        panel.innerHTML = "";
        var p = document.createElement("p");
        p.className = "error-message";
        p.textContent = message ? message.textContent : "The step cannot be shown.";
        panel.appendChild(p);
      }
      selectStep(cy, executionId);
      var params = new URLSearchParams(window.location.search);
      params.set("step", executionId);
      history.replaceState(null, "", window.location.pathname + "?" + params.toString());
    }).catch(function () {
      panel.classList.remove("loading");
      panel.textContent = "The server did not answer.";
    });
  }

  function initRunPage(cy) {
    var head = document.getElementById("run-head");
    if (!head) { return; }
    var runName = head.getAttribute("data-run");
    var stepUrl = function (id) { return "/steps/" + id + "?run=" + encodeURIComponent(runName); };
    if (cy) {
      cy.on("tap", "node.step", function (event) {
        var id = event.target.data("execution_id");
        openStep(stepUrl(id), id, cy);
      });
      cy.on("tap", "node.artifact", function (event) {
        window.location.href = "/artifacts/" + event.target.data("artifact_id");
      });
      var detail = document.getElementById("step-detail");
      if (detail) { selectStep(cy, detail.getAttribute("data-execution-id")); }
    }
    document.querySelectorAll("a.step-link").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (event.metaKey || event.ctrlKey || event.shiftKey) { return; }
        event.preventDefault();
        var row = link.closest("tr");
        openStep(link.getAttribute("data-step-url"), row.getAttribute("data-execution-id"), cy);
        document.getElementById("step-panel").scrollIntoView({ block: "nearest" });
      });
    });
    var every = parseInt(head.getAttribute("data-poll") || "0", 10);
    if (every > 0) { poll(head, cy, every); }
  }

  function setBadge(badge, status) {
    badge.className = "badge status-" + status;
    badge.setAttribute("data-status", status);
    badge.textContent = status;
  }

  function poll(head, cy, every) {
    var url = head.getAttribute("data-status-url");
    var timer = window.setInterval(function () {
      fetch(url, { cache: "no-store" }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      }).then(function (state) {
        var unknown = false;
        Object.keys(state.steps).forEach(function (id) {
          var status = state.steps[id];
          var row = document.querySelector('tr[data-execution-id="' + id + '"] .badge');
          if (!row) { unknown = true; return; }
          setBadge(row, status);
          if (cy) {
            var node = cy.$id("step:" + id);
            Object.keys(STATUS_COLORS).forEach(function (s) { node.removeClass(s); });
            node.addClass(status);
          }
        });
        var headBadge = head.querySelector("h1 .badge");
        if (headBadge) { setBadge(headBadge, state.status); }
        if (unknown || state.status !== "running") {
          // new steps, or the run ended: draw the page again from the store
          window.clearInterval(timer);
          window.location.reload();
        }
      }).catch(function () {
        var note = document.getElementById("live-note");
        if (note) { note.textContent = "The store did not answer; retrying."; }
      });
    }, every);
  }

  // -- an artifact's lineage ----------------------------------------------------------
  function initLineage(cy) {
    if (!cy) { return; }
    cy.on("tap", "node.artifact", function (event) {
      window.location.href = "/artifacts/" + event.target.data("artifact_id");
    });
    cy.on("tap", "node.step", function (event) {
      var run = event.target.data("run");
      if (run) {
        window.location.href = "/runs/" + encodeURIComponent(run) + "?step=" + event.target.data("execution_id");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var dag = document.getElementById("dag");
    var cy = dag ? drawGraph(dag) : null;
    initRunPage(cy);
    var lineage = document.getElementById("lineage");
    if (lineage) { initLineage(drawGraph(lineage)); }
    document.querySelectorAll("button[data-fit]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = window.zenGraphs[button.getAttribute("data-fit")];
        if (target) { target.fit(undefined, 16); }
      });
    });
  });
})();
