#![forbid(unsafe_code)]
//! dingtalk-login: log in with DingTalk (钉钉) or a password, and hand JWT access and
//! refresh tokens to a single-page app.

pub mod accounts;
pub mod admin;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod directory;
pub mod domain;
pub mod error;
pub mod i18n;
pub mod login;
pub mod metrics;
pub mod oidc;
pub mod providers;
mod report;
pub mod sandbox;
pub mod startup;
pub mod telemetry;
pub mod tokens;
pub mod web;
