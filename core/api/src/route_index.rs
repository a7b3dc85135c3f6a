//! The documented routes, as the plugins' OpenAPI metadata declares them: which methods each
//! path takes (the `Allow` header of a 405) and which credentials each operation needs (the
//! credential check on the request head).

use poem::http::Method;
use poem_openapi::OpenApi;

use crate::registry::PluginApis;

/// One operation: a method on a path, and the security schemes that admit a caller.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// Names of the security schemes, as in the document; empty for a public operation.
    pub schemes: Vec<&'static str>,
    /// Names of its query parameters.
    pub query: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DocumentedPath {
    /// `/api/repo/id/{id}`, as the document writes it.
    template: String,
    /// The same, split on `/`.
    segments: Vec<String>,
    pub operations: Vec<Operation>,
}

impl DocumentedPath {
    /// The methods this path takes, for an `Allow` header.
    pub fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.operations.iter().map(|o| o.method.as_str()).collect();
        methods.sort();
        methods.dedup();
        methods.join(", ")
    }

    /// The path as the document writes it, `/api/repo/id/{id}`.
    pub fn template(&self) -> &str {
        &self.template
    }

    pub fn operation(&self, method: &Method) -> Option<&Operation> {
        self.operations.iter().find(|o| o.method == *method)
    }

    fn params(&self) -> usize {
        self.segments.iter().filter(|s| s.starts_with('{')).count()
    }

    fn matches(&self, segments: &[&str]) -> bool {
        self.segments.len() == segments.len()
            && self.segments.iter().zip(segments).all(|(t, s)| t.starts_with('{') || t == s)
    }
}

/// Every documented path of the plugins built in.
#[derive(Debug, Clone, Default)]
pub struct RouteIndex(Vec<DocumentedPath>);

impl RouteIndex {
    pub fn from_plugins() -> Self {
        let mut paths: Vec<DocumentedPath> = Vec::new();
        for api in PluginApis::meta() {
            for path in api.paths {
                let operations = path.operations.iter().map(|op| Operation {
                    method: op.method.clone(),
                    schemes: op.security.iter().flat_map(|req| req.keys().copied()).collect(),
                    query: op
                        .params
                        .iter()
                        .filter(|p| p.in_type == poem_openapi::registry::MetaParamIn::Query)
                        .map(|p| p.name.clone())
                        .collect(),
                });
                match paths.iter_mut().find(|p| p.template == path.path) {
                    Some(existing) => existing.operations.extend(operations),
                    None => paths.push(DocumentedPath {
                        template: path.path.to_string(),
                        segments: path.path.split('/').map(str::to_string).collect(),
                        operations: operations.collect(),
                    }),
                }
            }
        }
        RouteIndex(paths)
    }

    /// The documented path a request path falls on; a literal segment beats a parameter.
    pub fn find(&self, path: &str) -> Option<&DocumentedPath> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0.iter().filter(|p| p.matches(&segments)).min_by_key(|p| p.params())
    }
}
