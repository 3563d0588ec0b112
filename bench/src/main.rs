//! Benchmark for dingtalk-login: starts the real binary (and the DingTalk sandbox in its own
//! process), seeds users, and drives the service over loopback with a fixed number of
//! connections for a fixed time, scenario by scenario. Prints one table and writes the same
//! numbers as JSON under bench/results/.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use dingtalk_login::sandbox::driver;
use hdrhistogram::Histogram;
use reqwest::header::LOCATION;
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Benchmark dingtalk-login over loopback")]
struct Args {
    /// The service binary to measure.
    #[arg(long, default_value = "target/release/dingtalk-login")]
    binary: PathBuf,
    /// Run on the local PostgreSQL instead of a fresh SQLite file.
    #[arg(long)]
    postgres: bool,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres_server: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// A seconds-long run that only proves every scenario works (the test suite uses it).
    #[arg(long)]
    smoke: bool,
    /// Where the JSON result goes.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Drive /healthz and /api/me with `wrk` (Debian package `wrk`, a C load generator)
    /// instead of this program's client, which takes more of the machine than the service.
    #[arg(long)]
    wrk: bool,
    /// With `--wrk`: how many callbacks to prepare per callback scenario (each is sent once;
    /// a scenario ends early when they run out).
    #[arg(long, default_value_t = 30_000)]
    callbacks: usize,
    /// The service's `DATABASE_POOL_SIZE` (its default when not given).
    #[arg(long)]
    pool_size: Option<u32>,
}

/// A child process killed and reaped however the benchmark ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Setup {
    binary: PathBuf,
    data_dir: PathBuf,
    env: Vec<(String, String)>,
    base: String,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("/dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Setup {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.data_dir);
        command
    }

    fn spawn_service(&self) -> anyhow::Result<Process> {
        let log = std::fs::File::create(self.data_dir.join("service.log"))?;
        Ok(Process(
            self.command()
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("starting the service")?,
        ))
    }
}

/// Polls `url` until it answers (with 200 when `ok_only`); returns how long that took.
async fn wait_answering(url: &str, ok_only: bool) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(response) = client.get(url).send().await
            && (!ok_only || response.status() == 200)
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!("{url} did not answer within 30 s")
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    Ok(response
        .headers()
        .get(LOCATION)
        .context("no Location")?
        .to_str()?
        .to_owned())
}

/// One DingTalk login through the sandbox: authorize → consent → callback → SPA redirect.
/// Returns the handoff values.
async fn dingtalk_login(
    setup: &Setup,
    client: &reqwest::Client,
    identity: &[(&str, &str)],
) -> anyhow::Result<(String, String)> {
    let start = client
        .get(format!("{}/user/dingtalk/authorize", setup.base))
        .send()
        .await?;
    let authorize = location(&start)?;
    let callback_url = driver::agree(client, &authorize, identity).await?;
    let callback = client.get(callback_url).send().await?;
    if callback.status() != 303 {
        bail!("callback answered {}", callback.status());
    }
    let values = driver::handoff_values(&location(&callback)?).context("handoff")?;
    Ok((values["token"].clone(), values["refreshToken"].clone()))
}

/// Walks `count` logins up to the callback — authorize (a fresh session cookie holding the
/// state), the sandbox's consent — and writes each callback as `path<TAB>cookie` to `file`,
/// for `wrk` to replay. `identity(i)` is the consent form's identity for login `i`.
async fn prepare_callbacks(
    setup: &Setup,
    count: usize,
    file: &std::path::Path,
    identity: impl Fn(usize) -> Vec<(&'static str, String)> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let identity = Arc::new(identity);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (base, identity, next) = (setup.base.clone(), identity.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            // No cookie store: each authorize starts a session of its own.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let mut lines = String::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count {
                    return anyhow::Ok(lines);
                }
                let start = client
                    .get(format!("{base}/user/dingtalk/authorize"))
                    .send()
                    .await?;
                let cookie = start
                    .headers()
                    .get(reqwest::header::SET_COOKIE)
                    .context("no session cookie")?
                    .to_str()?
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let fields = identity(i);
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let callback = driver::agree(&client, &location(&start)?, &fields).await?;
                let path = callback
                    .strip_prefix(&base)
                    .context("the callback is not on the service")?;
                lines.push_str(&format!("{path}\t{cookie}\n"));
            }
        }));
    }
    let mut all = String::new();
    for task in tasks {
        all.push_str(&task.await??);
    }
    std::fs::write(file, all)?;
    Ok(())
}

#[derive(Serialize, Clone)]
struct ScenarioResult {
    name: String,
    /// The service's resident memory right after the scenario.
    rss_after_mib: f64,
    /// Share of the machine's CPU time used by each process during the scenario.
    service_cpu_percent: f64,
    sandbox_cpu_percent: f64,
    bench_client_cpu_percent: f64,
    /// The service's CPU time per operation.
    service_cpu_us_per_op: f64,
    connections: usize,
    operations: u64,
    errors: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

struct Recorder {
    histogram: std::sync::Mutex<Histogram<u64>>,
    errors: AtomicU64,
}

/// Runs `operation` in `connections` loops for `duration`; each loop owns a state made by `init`.
async fn run<S, I, IF, O, OF>(
    name: &str,
    connections: usize,
    duration: Duration,
    init: I,
    operation: O,
) -> ScenarioResult
where
    S: Send + 'static,
    I: Fn(usize) -> IF + Send + Sync + 'static,
    IF: Future<Output = anyhow::Result<S>> + Send,
    O: Fn(usize, &mut S, u64) -> OF + Send + Sync + 'static,
    OF: Future<Output = anyhow::Result<()>> + Send,
{
    let recorder = Arc::new(Recorder {
        histogram: std::sync::Mutex::new(Histogram::new(3).unwrap()),
        errors: AtomicU64::new(0),
    });
    let (init, operation) = (Arc::new(init), Arc::new(operation));
    let mut states = Vec::new();
    for connection in 0..connections {
        states.push(
            init(connection)
                .await
                .unwrap_or_else(|e| panic!("{name}: preparing connection {connection}: {e:#}")),
        );
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (connection, mut state) in states.into_iter().enumerate() {
        let (recorder, operation) = (recorder.clone(), operation.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).unwrap();
            let mut iteration = 0u64;
            while Instant::now() < deadline {
                let began = Instant::now();
                match operation(connection, &mut state, iteration).await {
                    Ok(()) => local.record(began.elapsed().as_micros() as u64).unwrap(),
                    Err(error) => {
                        if recorder.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("  {error:#}");
                        }
                    }
                }
                iteration += 1;
            }
            recorder.histogram.lock().unwrap().add(&local).unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let histogram = recorder.histogram.lock().unwrap();
    ScenarioResult {
        name: name.to_owned(),
        rss_after_mib: 0.0,
        service_cpu_percent: 0.0,
        sandbox_cpu_percent: 0.0,
        bench_client_cpu_percent: 0.0,
        service_cpu_us_per_op: 0.0,
        connections,
        operations: histogram.len(),
        errors: recorder.errors.load(Ordering::Relaxed),
        per_second: histogram.len() as f64 / elapsed,
        p50_ms: histogram.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

const WRK_THREADS: usize = 2;

/// What a `wrk` run adds to plain GETs of one URL.
#[derive(Clone, Copy)]
enum WrkExtra<'a> {
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
const REPLAY_LUA: &str = r#"
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
fn wrk(
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

/// CPU time (user + system, in clock ticks of 10 ms) a process has used so far.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Where the machine's CPU goes during a scenario: the service, the sandbox, this client.
struct Meter {
    service: u32,
    sandbox: u32,
    started: Instant,
    ticks: [u64; 3],
}

impl Meter {
    fn new(service: u32, sandbox: u32) -> Meter {
        let mut meter = Meter {
            service,
            sandbox,
            started: Instant::now(),
            ticks: [0; 3],
        };
        meter.restart();
        meter
    }

    fn now(&self) -> [u64; 3] {
        [
            cpu_ticks(&self.service.to_string()),
            cpu_ticks(&self.sandbox.to_string()),
            cpu_ticks("self"),
        ]
    }

    fn restart(&mut self) {
        self.started = Instant::now();
        self.ticks = self.now();
    }

    fn fill(&self, result: &mut ScenarioResult) {
        let now = self.now();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        let available = self.started.elapsed().as_secs_f64() * cores * 100.0;
        let share = |i: usize| (now[i] - self.ticks[i]) as f64 / available * 100.0;
        result.service_cpu_percent = share(0);
        result.sandbox_cpu_percent = share(1);
        result.bench_client_cpu_percent = share(2);
        let service_seconds = (now[0] - self.ticks[0]) as f64 / 100.0;
        result.service_cpu_us_per_op = service_seconds * 1e6 / result.operations.max(1) as f64;
        result.rss_after_mib = rss_kib(self.service, "VmRSS:") as f64 / 1024.0;
    }
}

fn push_measured(results: &mut Vec<ScenarioResult>, meter: &mut Meter, mut result: ScenarioResult) {
    meter.fill(&mut result);
    results.push(result);
    meter.restart();
}

fn expect_status(response: &reqwest::Response, status: u16) -> anyhow::Result<()> {
    if response.status().as_u16() != status {
        bail!("{} answered {}", response.url().path(), response.status());
    }
    Ok(())
}

#[derive(Serialize)]
struct Report {
    backend: &'static str,
    connections: usize,
    seconds_per_scenario: u64,
    scenarios: Vec<ScenarioResult>,
    me_to_healthz_ratio: f64,
    returning_login_to_healthz_ratio: f64,
    me_p99_alone_ms: f64,
    me_p99_during_password_logins_ms: f64,
    rss_idle_mib: f64,
    rss_peak_mib: f64,
    startup_to_first_healthz_ms: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.connections = args.connections.min(2);
        args.duration = 1;
        args.callbacks = args.callbacks.min(50);
    }
    let binary = std::fs::canonicalize(&args.binary)
        .with_context(|| format!("{} (build it first)", args.binary.display()))?;
    let data_dir = std::env::temp_dir().join(format!("dingtalk-bench-{}", random_hex(4)));
    std::fs::create_dir_all(&data_dir)?;
    let (service_port, sandbox_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{service_port}");
    let sandbox = format!("http://127.0.0.1:{sandbox_port}");
    let database_url = if args.postgres {
        let name = format!("bench_{}", random_hex(4));
        let status = Command::new("psql")
            .args([
                &format!("{}/postgres", args.postgres_server),
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()?;
        anyhow::ensure!(status.success(), "creating the PostgreSQL database failed");
        format!("{}/{name}", args.postgres_server)
    } else {
        format!("sqlite://{}", data_dir.join("bench.sqlite3").display())
    };
    let env: Vec<(String, String)> = [
        ("BIND_ADDR", format!("127.0.0.1:{service_port}")),
        ("PUBLIC_BASE_URL", base.clone()),
        ("DATA_DIR", data_dir.display().to_string()),
        ("DATABASE_URL", database_url.clone()),
        ("JWT_SECRET", random_hex(32)),
        ("SESSION_SECRET", random_hex(32)),
        ("DINGTALK_CLIENT_ID", "bench-client".to_owned()),
        ("DINGTALK_CLIENT_SECRET", random_hex(16)),
        ("DINGTALK_SANDBOX", "false".to_owned()),
        (
            "DINGTALK_AUTH_URL",
            format!("{sandbox}/sandbox/dingtalk/oauth2/auth"),
        ),
        ("DINGTALK_API_BASE", format!("{sandbox}/sandbox/dingtalk")),
        ("RUST_LOG", "info".to_owned()),
        // Every connection comes from 127.0.0.1: the per-address limits are set out of
        // reach, but still counted (on PostgreSQL an upsert per limited request), so the
        // numbers include what the limits cost in production.
        ("RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
        ("RATE_LIMIT_CEILING_PER_MINUTE", "10000000".to_owned()),
        // Metrics recorded, as in production (a scraper would present this token).
        ("METRICS_TOKEN", "benchmark-metrics-token".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(
        args.pool_size
            .map(|size| ("DATABASE_POOL_SIZE".to_owned(), size.to_string())),
    )
    .collect();
    let setup = Arc::new(Setup {
        binary,
        data_dir: data_dir.clone(),
        env,
        base: base.clone(),
    });

    // The DingTalk side runs in its own process and must never be the bottleneck.
    let mut sandbox_command = setup.command();
    sandbox_command.env("DINGTALK_SANDBOX", "true").args([
        "sandbox",
        "--bind",
        &format!("127.0.0.1:{sandbox_port}"),
    ]);
    let sandbox_process = Process(
        sandbox_command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let mut service = setup.spawn_service()?;
    wait_answering(&format!("{base}/healthz"), true).await?;
    wait_answering(
        &format!("{sandbox}/sandbox/dingtalk/v1.0/contact/users/me"),
        false,
    )
    .await?;

    // Seed: password users, and the returning DingTalk user.
    let password = "bench-password-1234";
    for i in 0..4 {
        let mut child = setup
            .command()
            .args([
                "user",
                "create",
                "--username",
                &format!("bench{i}"),
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}")?;
        anyhow::ensure!(child.wait()?.success(), "seeding users failed");
    }
    dingtalk_login(&setup, &browser(), &[("identity", "zhangsan")]).await?;
    let pid = service.0.id();
    let rss_idle = rss_kib(pid, "VmRSS:");
    let mut meter = Meter::new(pid, sandbox_process.0.id());

    let (c, d) = (args.connections, Duration::from_secs(args.duration));
    let mut results = Vec::new();
    println!(
        "dingtalk-login benchmark: {} connections, {} s per scenario, {}",
        c,
        args.duration,
        if args.postgres {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    let s = setup.clone();
    let healthz = if args.wrk {
        wrk(
            "1 GET /healthz",
            c,
            d,
            &format!("{}/healthz", s.base),
            WrkExtra::None,
        )?
    } else {
        run(
            "1 GET /healthz",
            c,
            d,
            |_| async { Ok(reqwest::Client::new()) },
            move |_, client, _| {
                let url = format!("{}/healthz", s.base);
                let client = client.clone();
                async move { expect_status(&client.get(url).send().await?, 200) }
            },
        )
        .await
    };
    push_measured(&mut results, &mut meter, healthz);

    let s = setup.clone();
    let me_init = move |_| {
        let s = s.clone();
        async move {
            Ok((
                reqwest::Client::new(),
                dingtalk_login(&s, &browser(), &[("identity", "zhangsan")])
                    .await?
                    .0,
            ))
        }
    };
    let s = setup.clone();
    let me_operation = move |_, state: &mut (reqwest::Client, String), _| {
        let (client, token, url) = (
            state.0.clone(),
            state.1.clone(),
            format!("{}/api/me", s.base),
        );
        async move { expect_status(&client.get(url).bearer_auth(token).send().await?, 200) }
    };
    let me = if args.wrk {
        let (token, _) = dingtalk_login(&setup, &browser(), &[("identity", "zhangsan")]).await?;
        meter.restart();
        let header = format!("Authorization: Bearer {token}");
        let url = format!("{}/api/me", setup.base);
        wrk(
            "2 GET /api/me (guard)",
            c,
            d,
            &url,
            WrkExtra::Header(&header),
        )?
    } else {
        run(
            "2 GET /api/me (guard)",
            c,
            d,
            me_init.clone(),
            me_operation.clone(),
        )
        .await
    };
    push_measured(&mut results, &mut meter, me);

    let s = setup.clone();
    push_measured(
        &mut results,
        &mut meter,
        run(
            "3 DingTalk login, returning user",
            c,
            d,
            |_| async { Ok(browser()) },
            move |_, client, _| {
                let (s, client) = (s.clone(), client.clone());
                async move {
                    dingtalk_login(&s, &client, &[("identity", "zhangsan")])
                        .await
                        .map(|_| ())
                }
            },
        )
        .await,
    );

    let s = setup.clone();
    let run_id = random_hex(2);
    push_measured(
        &mut results,
        &mut meter,
        run(
            "4 DingTalk login, first time",
            c,
            d,
            |_| async { Ok(browser()) },
            move |connection, client, i| {
                let (s, client) = (s.clone(), client.clone());
                let nick = format!("bench-{run_id}-{connection}-{i}");
                // a unique mobile per login: every login registers a user bound to its phone
                let mobile = format!(
                    "1{:03}{:03}{:04}",
                    u16::from_str_radix(&run_id, 16).unwrap() % 1000,
                    connection,
                    i % 10_000
                );
                async move {
                    dingtalk_login(
                        &s,
                        &client,
                        &[("identity", "custom"), ("nick", &nick), ("mobile", &mobile)],
                    )
                    .await
                    .map(|_| ())
                }
            },
        )
        .await,
    );

    let s = setup.clone();
    let s2 = setup.clone();
    push_measured(
        &mut results,
        &mut meter,
        run(
            "5 POST /api/token/refresh",
            c,
            d,
            move |_| {
                let s = s.clone();
                async move {
                    let refresh = dingtalk_login(&s, &browser(), &[("identity", "zhangsan")])
                        .await?
                        .1;
                    Ok((
                        reqwest::Client::new(),
                        Arc::new(std::sync::Mutex::new(refresh)),
                    ))
                }
            },
            // Each connection follows its own rotation chain: every answer's refresh token is
            // the one the next request presents.
            move |_, state: &mut (reqwest::Client, Arc<std::sync::Mutex<String>>), _| {
                let (client, chain, url) = (
                    state.0.clone(),
                    state.1.clone(),
                    format!("{}/api/token/refresh", s2.base),
                );
                async move {
                    let token = chain.lock().unwrap().clone();
                    let response = client
                        .post(url)
                        .json(&serde_json::json!({ "refreshToken": token }))
                        .send()
                        .await?;
                    expect_status(&response, 200)?;
                    let body: serde_json::Value = response.json().await?;
                    *chain.lock().unwrap() = body["refreshToken"]
                        .as_str()
                        .context("refreshToken")?
                        .to_owned();
                    Ok(())
                }
            },
        )
        .await,
    );

    // 6: password logins, with /api/me running beside them on the other half of the connections.
    let half = (c / 2).max(1);
    let s = setup.clone();
    let logins = run(
        "6 POST /api/login (argon2id)",
        half,
        d,
        |_| async { Ok(reqwest::Client::new()) },
        move |connection, client, _| {
            let (client, url) = (client.clone(), format!("{}/api/login", s.base));
            let body = serde_json::json!({ "username": format!("bench{}", connection % 4), "password": password });
            async move { expect_status(&client.post(url).json(&body).send().await?, 200) }
        },
    );
    let beside = run("6b GET /api/me during 6", half, d, me_init, me_operation);
    let (logins, beside) = tokio::join!(logins, beside);
    // 6 and 6b share one time window: both get its CPU shares.
    let mut logins = logins;
    let mut beside = beside;
    meter.fill(&mut logins);
    meter.fill(&mut beside);
    results.push(logins);
    results.push(beside);

    // The callback alone, as the issue's targets count it: states, cookies and codes made
    // beforehand, each callback sent once by `wrk`.
    if args.wrk {
        let run_id = random_hex(3);
        // a unique mobile per first login: every such callback registers a user
        let mobile_prefix = u32::from_str_radix(&run_id, 16).unwrap() % 10_000;
        type Identity = Box<dyn Fn(usize) -> Vec<(&'static str, String)> + Send + Sync>;
        let scenarios: [(&str, &str, Identity); 2] = [
            (
                "7 DingTalk callback, returning user",
                "returning.tsv",
                Box::new(|_| vec![("identity", "zhangsan".to_owned())]),
            ),
            (
                "8 DingTalk callback, first login",
                "first.tsv",
                Box::new(move |i| {
                    vec![
                        ("identity", "custom".to_owned()),
                        ("nick", format!("first-{run_id}-{i}")),
                        ("mobile", format!("1{mobile_prefix:04}{i:06}")),
                    ]
                }),
            ),
        ];
        let url = format!("{}/", setup.base);
        for (name, file, identity) in scenarios {
            let file = data_dir.join(file);
            prepare_callbacks(&setup, args.callbacks, &file, identity).await?;
            meter.restart();
            let result = wrk(name, c, d, &url, WrkExtra::Replay(&file))?;
            push_measured(&mut results, &mut meter, result);
        }
    }

    let rss_peak = rss_kib(service.0.id(), "VmHWM:");
    // Start-up on an existing database.
    drop(std::mem::replace(
        &mut service,
        Process(Command::new("true").spawn()?),
    ));
    let restarted = setup.spawn_service()?;
    let startup = wait_answering(&format!("{base}/healthz"), true).await?;
    drop(restarted);

    let ratio = |a: usize, b: usize| results[a].per_second / results[b].per_second;
    let report = Report {
        backend: if args.postgres {
            "postgresql"
        } else {
            "sqlite"
        },
        connections: c,
        seconds_per_scenario: args.duration,
        me_to_healthz_ratio: ratio(1, 0),
        returning_login_to_healthz_ratio: ratio(2, 0),
        me_p99_alone_ms: results[1].p99_ms,
        me_p99_during_password_logins_ms: results[6].p99_ms,
        rss_idle_mib: rss_idle as f64 / 1024.0,
        rss_peak_mib: rss_peak as f64 / 1024.0,
        startup_to_first_healthz_ms: startup.as_secs_f64() * 1000.0,
        scenarios: results,
    };
    print_table(&report);
    let errors: u64 = report.scenarios.iter().map(|s| s.errors).sum();
    if !args.smoke {
        std::fs::create_dir_all(&args.out)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let path = args.out.join(format!("{stamp}-{}.json", report.backend));
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
        println!("\nwritten to {}", path.display());
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    cleanup_postgres(&args, &database_url);
    if report.scenarios.iter().any(|s| s.operations == 0) || errors > 0 {
        bail!("{errors} errors; every scenario must complete operations without errors");
    }
    Ok(())
}

fn cleanup_postgres(args: &Args, database_url: &str) {
    if args.postgres
        && let Some(name) = database_url.rsplit('/').next()
    {
        let _ = Command::new("psql")
            .args([
                &format!("{}/postgres", args.postgres_server),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ])
            .status();
    }
}

fn print_table(report: &Report) {
    println!(
        "\n| scenario | conns | req/s | p50 ms | p99 ms | errors | RSS after, MiB | CPU: service / sandbox / client | service CPU per op |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|");
    for s in &report.scenarios {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.0} % / {:.0} % / {:.0} % | {:.0} µs |",
            s.name,
            s.connections,
            s.per_second,
            s.p50_ms,
            s.p99_ms,
            s.errors,
            s.rss_after_mib,
            s.service_cpu_percent,
            s.sandbox_cpu_percent,
            s.bench_client_cpu_percent,
            s.service_cpu_us_per_op
        );
    }
    println!(
        "\n- /api/me ÷ /healthz: {:.0} %",
        report.me_to_healthz_ratio * 100.0
    );
    println!(
        "- returning DingTalk login ÷ /healthz: {:.1} %",
        report.returning_login_to_healthz_ratio * 100.0
    );
    println!(
        "- /api/me p99 alone {:.2} ms, beside password logins {:.2} ms",
        report.me_p99_alone_ms, report.me_p99_during_password_logins_ms
    );
    println!(
        "- RSS idle {:.1} MiB, peak {:.1} MiB",
        report.rss_idle_mib, report.rss_peak_mib
    );
    println!(
        "- start-up to first /healthz (existing database): {:.0} ms",
        report.startup_to_first_healthz_ms
    );
}
