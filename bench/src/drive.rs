//! Driving scenarios with this program's own client: logins through the sandbox, prepared
//! callbacks, and the timed loop with its histogram.

use super::*;

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

pub(crate) fn location(response: &reqwest::Response) -> anyhow::Result<String> {
    Ok(response
        .headers()
        .get(LOCATION)
        .context("no Location")?
        .to_str()?
        .to_owned())
}

/// One DingTalk login through the sandbox: authorize → consent → callback → SPA redirect.
/// Returns the handoff values.
pub(crate) async fn dingtalk_login(
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
pub(crate) async fn prepare_callbacks(
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
pub(crate) struct ScenarioResult {
    pub(crate) name: String,
    /// The service's resident memory right after the scenario.
    pub(crate) rss_after_mib: f64,
    /// Share of the machine's CPU time used by each process during the scenario.
    pub(crate) service_cpu_percent: f64,
    pub(crate) sandbox_cpu_percent: f64,
    pub(crate) bench_client_cpu_percent: f64,
    /// The service's CPU time per operation.
    pub(crate) service_cpu_us_per_op: f64,
    pub(crate) connections: usize,
    pub(crate) operations: u64,
    pub(crate) errors: u64,
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

pub(crate) struct Recorder {
    pub(crate) histogram: std::sync::Mutex<Histogram<u64>>,
    pub(crate) errors: AtomicU64,
}

/// Runs `operation` in `connections` loops for `duration`; each loop owns a state made by `init`.
pub(crate) async fn run<S, I, IF, O, OF>(
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

pub(crate) fn push_measured(
    results: &mut Vec<ScenarioResult>,
    meter: &mut Meter,
    mut result: ScenarioResult,
) {
    meter.fill(&mut result);
    results.push(result);
    meter.restart();
}

pub(crate) fn expect_status(response: &reqwest::Response, status: u16) -> anyhow::Result<()> {
    if response.status().as_u16() != status {
        bail!("{} answered {}", response.url().path(), response.status());
    }
    Ok(())
}
