//! `GET /api/version` and `GET /api/v1/version`: this server's own version.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// The server's version, on both path families.
    Version,
}

/// This server's version.
#[derive(Object, Debug, PartialEq)]
pub struct VersionBody {
    /// This server's version.
    pub version: String,
}

pub struct VersionApi;

#[OpenApi]
impl VersionApi {
    /// Get the version number
    #[oai(path = "/api/version", method = "get", tag = "Tag::Version", operation_id = "getVersion")]
    async fn version(&self) -> Json<VersionBody> {
        Json(VersionBody { version: bw_api::VERSION.to_string() })
    }

    /// Get the version number
    #[oai(path = "/api/v1/version", method = "get", tag = "Tag::Version", operation_id = "getServerVersion")]
    async fn version_v1(&self) -> Json<VersionBody> {
        self.version().await
    }
}

bw_api::endpoint_plugin!("version", VersionApi, VersionApi);
