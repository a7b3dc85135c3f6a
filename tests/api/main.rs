//! One integration-test binary; its modules mirror the API.

mod auth;
mod authorized_keys;
mod borgwarehouse3;
mod cli;
mod cli_env;
mod concurrency;
mod cron;
mod generated_clients;
mod history;
mod hostile;
mod key_modes;
mod keys;
mod layers;
mod metrics;
mod migration;
mod openapi;
mod outside;
mod plugins;
mod repos;
mod server;
mod server_info;
mod sessions;
mod snapshot;
mod storage_targets;
mod tokens;
mod validation;
