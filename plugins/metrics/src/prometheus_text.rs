//! The Prometheus text format (0.0.4) made from the OpenMetrics text `prometheus-client`
//! writes, for scrapers that do not ask for OpenMetrics.

use crate::render::COUNTERS;

/// Turns complete lines of the OpenMetrics text `prometheus-client` writes into the Prometheus
/// text format (0.0.4), which every scraper and `promtool check metrics` read: a counter's
/// HELP and TYPE name its samples' `_total` name, and there is no `# EOF`. Label values are
/// escaped alike in both formats.
pub fn to_prometheus_text(openmetrics: &str, out: &mut String) {
    for line in openmetrics.split_inclusive('\n') {
        if line.starts_with("# EOF") || line.starts_with("# UNIT ") {
            continue;
        }
        let counter_descriptor = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let name = rest.split(' ').next()?;
            COUNTERS.contains(&name).then_some((prefix, name, &rest[name.len()..]))
        });
        match counter_descriptor {
            Some((prefix, name, rest)) => {
                out.push_str(prefix);
                out.push_str(name);
                out.push_str("_total");
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_renamed_and_eof_dropped() {
        let om = "# HELP borgwarehouse_http_requests Requests.\n# TYPE borgwarehouse_http_requests counter\nborgwarehouse_http_requests_total{route=\"/a\"} 1\n# HELP borgwarehouse_repositories Count.\n# TYPE borgwarehouse_repositories gauge\nborgwarehouse_repositories 2\n# EOF\n";
        let mut out = String::new();
        to_prometheus_text(om, &mut out);
        assert_eq!(
            out,
            "# HELP borgwarehouse_http_requests_total Requests.\n# TYPE borgwarehouse_http_requests_total counter\nborgwarehouse_http_requests_total{route=\"/a\"} 1\n# HELP borgwarehouse_repositories Count.\n# TYPE borgwarehouse_repositories gauge\nborgwarehouse_repositories 2\n"
        );
    }
}
