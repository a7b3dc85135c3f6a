//! The document's tags of the repository routes.

use poem_openapi::Tags;

#[derive(Tags)]
pub(crate) enum Tag {
    /// BorgWarehouse 2.x paths (`/api/repo...`): repositories by id. Each repository is one
    /// `authorized_keys` line and one pool folder.
    #[oai(rename = "Repositories (2.x paths)")]
    Repositories,
    /// v1 paths of BorgWarehouse 3.x (`/api/v1/repositories...`): repositories by name.
    #[oai(rename = "Repositories (v1, 3.x paths)")]
    RepositoriesV1,
    /// This server's keys of a repository (v1 paths): each key its own `authorized_keys` line,
    /// full or append-only.
    #[oai(rename = "Keys (this server, v1 paths)")]
    Keys,
}
