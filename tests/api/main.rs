//! One integration test binary (zero2prod style): every test starts the real application
//! on a random loopback port against its own fresh database, and talks to it over HTTP.
//! Tests listed in `backend_tests!` run twice: on SQLite and on PostgreSQL.

// A test fails loudly: unwrapping, expecting and panicking are how it says what broke, and
// a long test reads as one story.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)]

mod helpers;

mod account_pages;
mod admin_pages;
mod backchannel_logout;
mod bench_smoke;
mod browser;
mod cli;
mod client_login;
mod config;
mod dingtalk_failures;
mod dingtalk_flow;
mod directory;
mod directory_events;
mod directory_stream;
mod handoff_codes;
mod health;
mod login_page;
mod logs;
mod membership;
mod oauth_state;
mod openapi;
mod openid;
mod operations;
mod organisations;
mod passwords;
mod providers;
mod rate_limits;
mod tokens;
mod tokens_hostile;
mod wechat;
mod weibo;
