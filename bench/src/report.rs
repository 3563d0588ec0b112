//! The result: the JSON written to `bench/results/` and the table printed.

use super::*;

#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) backend: &'static str,
    pub(crate) connections: usize,
    pub(crate) seconds_per_scenario: u64,
    pub(crate) scenarios: Vec<ScenarioResult>,
    pub(crate) me_to_healthz_ratio: f64,
    pub(crate) returning_login_to_healthz_ratio: f64,
    pub(crate) me_p99_alone_ms: f64,
    pub(crate) me_p99_during_password_logins_ms: f64,
    pub(crate) rss_idle_mib: f64,
    pub(crate) rss_peak_mib: f64,
    pub(crate) startup_to_first_healthz_ms: f64,
}

pub(crate) fn print_table(report: &Report) {
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
