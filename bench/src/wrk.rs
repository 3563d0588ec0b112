//! Scenarios driven by `wrk` (a C load generator), including the replay of prepared
//! callbacks, each sent once.

use super::*;

pub(crate) const WRK_THREADS: usize = 2;

/// What a `wrk` run adds to plain GETs of one URL.
#[derive(Clone, Copy)]
pub(crate) enum WrkExtra<'a> {
    None,
    /// One header on every request.
    Header(&'a str),
    /// Prepared requests (`path<TAB>cookie` lines), each sent once (`REPLAY_LUA`).
    Replay(&'a std::path::Path),
}

/// wrk's Lua side of `WrkExtra::Replay`: thread `i` of `n` sends lines `i, i+n, i+2n, …` of
/// the file, each once, and stops when its share is answered (a callback's state and code
/// are single use, so a second send would only measure a refusal). A connection that asks
/// for more once the share is sent gets a `/healthz` (at most one each) and stops the thread.
pub(crate) const REPLAY_LUA: &str = r#"
local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
end
function init(args)
  local file, threads = args[1], tonumber(args[2])
  requests, sent, answered = {}, 0, 0
  local i = 0
  for line in io.lines(file) do
    if i % threads == id then
      local path, cookie = line:match("([^\t]+)\t(.*)")
      requests[#requests + 1] = wrk.format("GET", path, { Cookie = cookie })
    end
    i = i + 1
  end
end
function request()
  sent = sent + 1
  if sent > #requests then
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  return requests[sent]
end
function response(status, headers, body)
  answered = answered + 1
  if answered >= #requests then
    wrk.thread:stop()
  end
end
"#;

/// Runs `wrk` against `url` (with `header`, if any) and reads its summary: requests per
/// second, the 50th and 99th percentile latencies, and non-2xx answers as errors.
pub(crate) fn wrk(
    name: &str,
    connections: usize,
    duration: Duration,
    url: &str,
    extra: WrkExtra,
) -> anyhow::Result<ScenarioResult> {
    let mut command = Command::new("wrk");
    command.args([
        &format!("-t{WRK_THREADS}"),
        &format!("-c{connections}"),
        &format!("-d{}s", duration.as_secs().max(1)),
        "--latency",
    ]);
    match extra {
        WrkExtra::None => {}
        WrkExtra::Header(header) => {
            command.args(["-H", header]);
        }
        WrkExtra::Replay(file) => {
            let script = file.with_extension("lua");
            std::fs::write(&script, REPLAY_LUA)?;
            command.arg("-s").arg(&script);
        }
    }
    command.arg(url);
    if let WrkExtra::Replay(file) = extra {
        command.arg("--").arg(file).arg(WRK_THREADS.to_string());
    }
    let output = command
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(output.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::trim)
    };
    let millis = |value: &str| -> f64 {
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_alphabetic())
                .unwrap_or(value.len()),
        );
        let number: f64 = number.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => number / 1000.0,
            "s" => number * 1000.0,
            _ => number,
        }
    };
    let per_second: f64 = field("Requests/sec:").context("no Requests/sec")?.parse()?;
    let operations = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    let errors = field("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Ok(ScenarioResult {
        name: format!("{name} (wrk)"),
        rss_after_mib: 0.0,
        service_cpu_percent: 0.0,
        sandbox_cpu_percent: 0.0,
        bench_client_cpu_percent: 0.0,
        service_cpu_us_per_op: 0.0,
        connections,
        operations,
        errors,
        per_second,
        p50_ms: field("50%").map(millis).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(millis).unwrap_or(f64::NAN),
    })
}
