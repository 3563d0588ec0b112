//! The processes the benchmark starts and watches: the service, the sandbox, their
//! memory and CPU.

use super::*;

/// A child process killed and reaped however the benchmark ends.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) struct Setup {
    pub(crate) binary: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) base: String,
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("/dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Setup {
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.data_dir);
        command
    }

    pub(crate) fn spawn_service(&self) -> anyhow::Result<Process> {
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
pub(crate) async fn wait_answering(url: &str, ok_only: bool) -> anyhow::Result<Duration> {
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

pub(crate) fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system, in clock ticks of 10 ms) a process has used so far.
pub(crate) fn cpu_ticks(pid: &str) -> u64 {
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
pub(crate) struct Meter {
    pub(crate) service: u32,
    pub(crate) sandbox: u32,
    pub(crate) started: Instant,
    pub(crate) ticks: [u64; 3],
}

impl Meter {
    pub(crate) fn new(service: u32, sandbox: u32) -> Meter {
        let mut meter = Meter {
            service,
            sandbox,
            started: Instant::now(),
            ticks: [0; 3],
        };
        meter.restart();
        meter
    }

    pub(crate) fn now(&self) -> [u64; 3] {
        [
            cpu_ticks(&self.service.to_string()),
            cpu_ticks(&self.sandbox.to_string()),
            cpu_ticks("self"),
        ]
    }

    pub(crate) fn restart(&mut self) {
        self.started = Instant::now();
        self.ticks = self.now();
    }

    pub(crate) fn fill(&self, result: &mut ScenarioResult) {
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
