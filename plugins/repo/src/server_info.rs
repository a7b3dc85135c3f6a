//! `GET /api/v1/server-info`: the facts a client needs to set up a backup on this host (its SSH
//! name, port, user and host key fingerprints) and what the server allows, as BorgWarehouse's
//! wizard gives them to its web page.

use bw_api::auth::{Guard, Read};
use bw_api::refusals::{Answer, NONE};
use bw_api::AppState;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use crate::schema::{HostKeyFingerprint, PoolDisk, ServerInfo};
use crate::tag::Tag;

pub struct ServerInfoApi;

#[OpenApi]
impl ServerInfoApi {
    /// Retrieve what a client needs to back up to this host
    #[oai(path = "/api/v1/server-info", method = "get", tag = "Tag::RepositoriesV1", operation_id = "getServerInfo")]
    async fn server_info(&self, state: Data<&AppState>, _caller: Guard<Read>) -> Answer<Json<ServerInfo>, NONE> {
        let ssh = &state.config.ssh;
        let pattern = ssh.host_key_files.clone();
        // Reading a few small files; off the request threads all the same (a slow mount).
        let pool = state.repos.pool().root().to_path_buf();
        let (keys, disk) = tokio::task::spawn_blocking(move || {
            (bw_host::ssh_key::host_key_fingerprints(&pattern), bw_host::storage_target::disk_space(&pool))
        })
        .await
        .unwrap_or_default();
        Ok(Json(ServerInfo {
            unix_user: ssh.unix_user.clone().filter(|v| !v.is_empty()),
            fqdn: ssh.fqdn.clone().filter(|v| !v.is_empty()),
            ssh_port: ssh.port,
            fqdn_lan: ssh.fqdn_lan.clone().filter(|v| !v.is_empty()),
            ssh_port_lan: ssh.port_lan,
            host_key_fingerprints: keys.into_iter().map(|(kind, sha256)| HostKeyFingerprint { kind, sha256 }).collect(),
            pool_disk: disk.map(|d| PoolDisk {
                total_bytes: d.total_bytes,
                used_bytes: d.used_bytes,
                free_bytes: d.free_bytes,
            }),
            delete_disabled: state.config.repos.disable_delete || !cfg!(feature = "delete-repo"),
            integrations_disabled: state.config.auth.disable_integrations || !bw_api::INTEGRATIONS_COMPILED,
            compact_disabled: state.config.repos.disable_compact,
        }))
    }
}
