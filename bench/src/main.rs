//! Benchmark for dingtalk-login: starts the real binary (and the DingTalk sandbox in its own
//! process), seeds users, and drives the service over loopback with a fixed number of
//! connections for a fixed time, scenario by scenario. Prints one table and writes the same
//! numbers as JSON under bench/results/.

mod drive;
mod process;
mod report;
mod wrk;

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

use drive::*;
use process::*;
use report::*;
use wrk::*;

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

    // The callback alone, as the targets count it: states, cookies and codes made
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
