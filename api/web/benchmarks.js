// Benchmarks: start a small run, poll, show the plot (enlarged on a click) and the rows, single and batch apart.

import { api } from "./api.js";
import { $, el, fmt, plural, setError } from "./dom.js";
import { state } from "./state.js";

const BENCH_REQUEST = { dataset: "glove50-10k", specs: ["Flat", "HNSW32"], baselines: ["hnswlib"], smoke: true };
const numbers = new Map(); // job id -> the run's number on this server, counted from 1

/** The run's number among this server's benchmark runs (job ids count every job, uploads included). */
async function runNumber(id) {
  if (!numbers.has(id)) {
    const { jobs } = await api("/v1/jobs?kind=benchmark&limit=500", { quiet: true });
    const ids = jobs.map((j) => j.id).sort((a, b) => a - b);
    ids.forEach((jobId, i) => numbers.set(jobId, i + 1));
  }
  return numbers.get(id) ?? "";
}

async function startBenchmark() {
  setError("bench-error", "");
  const button = $("bench-start");
  button.disabled = true;
  let started;
  try {
    started = await api("/v1/benchmarks", { method: "POST", json: BENCH_REQUEST });
  } catch (err) {
    setError("bench-error", err.message);
    button.disabled = false;
    return;
  }
  showBenchmarkPlot(null);
  renderBenchmarkRows([]);
  $("bench-method").hidden = true;
  pollBenchmark(started.id);
}

async function pollBenchmark(id, failures = 0) {
  clearTimeout(state.benchTimer);
  let run;
  let number;
  try {
    run = await api(`/v1/benchmarks/${id}`);
    number = await runNumber(id);
  } catch (err) {
    if (failures < 3 && err.status !== 404 && err.status !== 401 && err.status !== 403) {
      state.benchTimer = setTimeout(() => pollBenchmark(id, failures + 1), 2000);
    } else {
      setError("bench-error", err.message);
      $("bench-start").disabled = false;
    }
    return;
  }
  renderBenchmark(run, number);
  if (run.status === "running" || run.status === "queued") {
    state.benchTimer = setTimeout(() => pollBenchmark(id), 1000);
    return;
  }
  $("bench-start").disabled = false;
  if (run.status === "done") {
    try {
      const res = await api(`/v1/benchmarks/${id}/plot.png`, { raw: true });
      showBenchmarkPlot(URL.createObjectURL(await res.blob()));
    } catch (err) {
      setError("bench-error", `The plot: ${err.message}`);
    }
  }
}

function renderBenchmark(run, number) {
  const status = $("bench-status");
  status.dataset.status = run.status;
  const rows = run.results || [];
  const name = `Run ${number}`;
  if (run.status === "failed") status.textContent = `${name}: failed: ${run.error || "no reason given"}`;
  else if (run.status === "done") {
    const s = run.summary || {};
    status.textContent = `${name}: done: ${s.dataset || run.request.dataset}, ${s.n ?? "?"} vectors, ${s.queries ?? "?"} queries, ${plural(rows.length, "result")}.`;
  } else status.textContent = `${name}: running… ${plural(rows.length, "result")} so far.`;
  $("bench-start").disabled = run.status === "running" || run.status === "queued";
  // how the points were timed (runs from before the summary said so have no such sentence)
  const method = $("bench-method");
  method.textContent = (run.summary && run.summary.measured) || "";
  method.hidden = !method.textContent;
  renderBenchmarkRows(rows);
}

function benchRow(r) {
  return el(
    "tr",
    { dataset: { index: r.index } },
    el("th", { scope: "row", text: r.index }),
    el("td", {}, r.param ? [`${r.param}=`, el("wbr"), String(r.value)] : "–"),
    el("td", { class: "num recall", text: fmt(r["recall@10"]) }),
    el("td", { class: "num qps", text: typeof r.qps === "number" ? Math.round(r.qps).toLocaleString("en") : "–" }),
    el("td", { class: "num build", text: fmt(r.build_s, 2) }),
  );
}

/** Single-query rows in one table, batch rows in the other (the plot shows single-query rows only). */
function renderBenchmarkRows(rows) {
  for (const [mode, table] of [["single", "bench-table"], ["batch", "bench-table-batch"]]) {
    const mine = rows.filter((r) => (r.mode || "single") === mode);
    $(`${table}-wrap`).hidden = mine.length === 0;
    $(table).tBodies[0].replaceChildren(...mine.map(benchRow));
  }
  $("bench-terms").hidden = rows.length === 0;
}

function showBenchmarkPlot(url) {
  const img = $("bench-plot");
  if (state.benchPlotUrl) URL.revokeObjectURL(state.benchPlotUrl);
  state.benchPlotUrl = url;
  $("bench-plot-figure").hidden = !url;
  if (url) {
    img.src = url;
    $("bench-plot-large").src = url;
  } else {
    img.removeAttribute("src");
    $("bench-plot-large").removeAttribute("src");
  }
}

/** On the first visit to the view: show the latest run (and follow it if it still runs). Quiet on errors. */
export async function resumeBenchmark() {
  if (state.benchChecked) return;
  state.benchChecked = true;
  try {
    const { jobs } = await api("/v1/jobs?kind=benchmark&limit=1", { quiet: true });
    if (jobs.length && !state.benchTimer && !$("bench-status").textContent) pollBenchmark(jobs[0].id);
  } catch (_) {
    state.benchChecked = false; // e.g. no key yet: try again on the next visit
  }
}

export function setUpBenchmarks() {
  $("bench-start").addEventListener("click", startBenchmark);
  $("bench-plot-open").addEventListener("click", () => $("plot-dialog").showModal());
  $("plot-close").addEventListener("click", () => $("plot-dialog").close());
}
