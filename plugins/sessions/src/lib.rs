//! Sessions: the status of a repository the moment its backup ends.
//!
//! - [`command`]: `borgwarehouse session`, the recorder each key line runs `borg serve` under
//!   when `BW_SESSIONS` is on; it drops a record into the spool when borg ends.
//! - [`intake`]: every `BW_SESSION_INTERVAL`, the waiting records are taken in: the figures of
//!   each repository they name, its sessions kept, the recoveries alerted.
//! - [`routes`]: `GET /api/v1/repositories/{repositoryName}/sessions`.
//!
//! A backup never waits on the server: the recorder reads no configuration and opens no store.

mod command;
pub mod intake;
mod routes;

pub use intake::{take_in, TakenIn};

bw_api::endpoint_plugin!("sessions", routes::SessionsApi, routes::SessionsApi, document = routes::finish_document);
bw_api::task_plugin!("sessions", intake::interval, intake::scheduled);
