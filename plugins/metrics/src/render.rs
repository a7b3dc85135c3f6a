//! What a scrape shows, encoded with `prometheus-client`: the repositories as the store holds
//! them at scrape time (no second copy is kept between scrapes), their totals, and the counters
//! the server keeps about itself ([`bw_api::telemetry`]).

use std::fmt::Write;

use bw_api::telemetry::TelemetrySnapshot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::MetricType;

/// One repository's figures, taken from the store's index. Its name and alias are spans of the
/// table's one text buffer: at 100,000 repositories the table is two large allocations, which
/// the allocator hands back to the system when the scrape ends, rather than 200,000 small
/// strings that would stay scattered in the heap.
#[derive(Debug)]
pub struct RepoFigures {
    name: (u32, u32),
    alias: (u32, u32),
    /// Unix seconds; 0 before the first backup.
    pub last_backup: i64,
    pub used_bytes: u64,
    pub quota_bytes: u64,
    pub alert_seconds: u64,
    /// `status` as the API computes it now.
    pub ok: bool,
    /// Late as every count of late repositories counts it ([`bw_store::repo_store::RepoSummary::late`]).
    pub late: bool,
    pub append_only: bool,
    pub archived: bool,
    /// How many keys may reach it (each its own line).
    pub keys: u32,
    /// The newest session taken in (sessions on), if any.
    pub last_session: Option<bw_store::session_store::LastSession>,
    /// The last verify's end and outcome, if any.
    pub last_verify: Option<(i64, bool)>,
}

/// The repositories of one scrape.
#[derive(Debug, Default)]
pub struct RepoTable {
    rows: Vec<RepoFigures>,
    text: String,
}

impl RepoTable {
    pub fn with_capacity(repositories: usize) -> RepoTable {
        RepoTable { rows: Vec::with_capacity(repositories), text: String::with_capacity(repositories * 24) }
    }

    fn span(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        (start, s.len() as u32)
    }

    fn text(&self, (start, len): (u32, u32)) -> &str {
        &self.text[start as usize..(start + len) as usize]
    }

    pub fn push(
        &mut self,
        repo: bw_store::repo_store::RepoSummary<'_>,
        last_session: Option<bw_store::session_store::LastSession>,
        last_verify: Option<(i64, bool)>,
    ) {
        let start = self.text.len() as u32;
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{}", repo.name);
        let name = (start, self.text.len() as u32 - start);
        let alias = self.span(repo.alias);
        self.rows.push(RepoFigures {
            name,
            alias,
            // KiB as `du -s -L` counts them; GB are 10^9 bytes, as BorgWarehouse's quota.
            used_bytes: repo.storage_used.saturating_mul(1024),
            quota_bytes: repo.storage_size.saturating_mul(1_000_000_000),
            last_backup: repo.last_save,
            alert_seconds: repo.alert,
            ok: repo.status,
            late: repo.late(),
            append_only: repo.append_only,
            archived: repo.archived,
            keys: u32::try_from(repo.keys).unwrap_or(u32::MAX),
            last_session,
            last_verify,
        });
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    fn iter(&self) -> std::slice::Iter<'_, RepoFigures> {
        self.rows.iter()
    }
}

/// Everything one scrape shows.
#[derive(Debug)]
pub struct Scrape {
    pub repos: RepoTable,
    pub telemetry: TelemetrySnapshot,
    /// Whether the host's own figures (requests, refusals, deliveries, check runs) are shown.
    pub host_wide: bool,
    /// The store: `embedded` or `postgresql`.
    pub store: &'static str,
    /// Whether this server runs the periodic work now (the lease, on a shared database).
    pub leads: bool,
    /// The database's pool and notifications (PostgreSQL), shown to whole-host callers.
    pub database: Option<bw_store::backend::DatabaseStats>,
    pub version: &'static str,
    pub plugins: String,
}

/// The names of the counter families, without the `_total` their samples carry.
pub const COUNTERS: &[&str] = &[
    "borgwarehouse_http_requests",
    "borgwarehouse_authentication_failures",
    "borgwarehouse_alert_deliveries",
    "borgwarehouse_database_notifications",
];

/// A label value written in the exposition's escaped form: aliases are text users typed, and a
/// quote or a line break in one must not end the label (`prometheus-client` writes values as
/// they are).
struct Escaped<'a>(&'a str);

impl std::fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

fn bit(b: bool) -> u32 {
    u32::from(b)
}

impl Scrape {
    /// One gauge per repository, labelled by its name.
    fn per_repo<V: prometheus_client::encoding::EncodeGaugeValue>(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&RepoFigures) -> V,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for r in self.repos.iter() {
            let labels = [("repositoryName", Escaped(self.repos.text(r.name)))];
            metric.encode_family(&labels)?.encode_gauge(&value(r))?;
        }
        Ok(())
    }

    /// One gauge per repository that has a value.
    fn per_repo_with<V: prometheus_client::encoding::EncodeGaugeValue>(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&RepoFigures) -> Option<V>,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for r in self.repos.iter() {
            if let Some(v) = value(r) {
                let labels = [("repositoryName", Escaped(self.repos.text(r.name)))];
                metric.encode_family(&labels)?.encode_gauge(&v)?;
            }
        }
        Ok(())
    }

    fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: V,
    ) -> Result<(), std::fmt::Error> {
        encoder.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
    }
}

impl Scrape {
    /// A counter family, one sample per label set.
    fn counter<'a>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        samples: impl Iterator<Item = (Vec<(&'static str, Escaped<'a>)>, u64)>,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, n) in samples {
            metric
                .encode_family(&labels)?
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&n, None)?;
        }
        Ok(())
    }
}

impl Scrape {
    /// The build: version and plugins.
    fn encode_build_info(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let mut metric = e.encode_descriptor(
                "borgwarehouse_build_info",
                "This server's version and the plugins built in (value 1).",
                None,
                MetricType::Gauge,
            )?;
            let labels = [("version", Escaped(self.version)), ("plugins", Escaped(&self.plugins))];
            metric.encode_family(&labels)?.encode_gauge(&1u32)?;
        }
        Ok(())
    }

    /// The store, and whether this server runs the periodic work: with several servers on one
    /// database, exactly one scrape says 1 (an alert when none, or two, do).
    fn encode_store(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        {
            let mut metric = e.encode_descriptor(
                "borgwarehouse_store_info",
                "The store this server uses: embedded (sled) or postgresql (BW_DATABASE_URL); value 1.",
                None,
                MetricType::Gauge,
            )?;
            metric.encode_family(&[("store", Escaped(self.store))])?.encode_gauge(&1u32)?;
        }
        Self::gauge(
            e,
            "borgwarehouse_periodic_work",
            "1 while this server runs the checks, sessions, verify and alerts (the lease, on a shared database).",
            u64::from(self.leads),
        )?;
        let Some(db) = self.database.filter(|_| self.host_wide) else { return Ok(()) };
        {
            let mut metric = e.encode_descriptor(
                "borgwarehouse_database_connections",
                "This server's connections to the database: max (the pool's size), open, in_use, waiting (calls waiting for one).",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in
                [("max", db.pool_max), ("open", db.pool_open), ("in_use", db.pool_in_use), ("waiting", db.pool_waiting)]
            {
                metric.encode_family(&[("state", state)])?.encode_gauge(&n)?;
            }
        }
        Self::counter(
            e,
            "borgwarehouse_database_notifications",
            "Other servers' changes this server heard of (the database's notifications).",
            std::iter::once((Vec::new(), db.notifications)),
        )?;
        Self::gauge(
            e,
            "borgwarehouse_database_notification_lag_seconds",
            "From the commit of the last change heard of to its hearing here (the database's clock against this server's).",
            db.notification_lag_seconds,
        )
    }

    /// One series per repository (the figures, its last session and verify, its alias).
    fn encode_per_repository(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.per_repo(
            e,
            "borgwarehouse_repository_last_backup_timestamp_seconds",
            "Unix time of the repository's newest backup as the status check last read it; 0 before the first.",
            |r| r.last_backup,
        )?;
        self.per_repo(
            e,
            "borgwarehouse_repository_used_bytes",
            "Disk space the repository uses, as the storage check last read it (du -s -L).",
            |r| r.used_bytes,
        )?;
        self.per_repo(e, "borgwarehouse_repository_quota_bytes", "The repository's storage quota.", |r| r.quota_bytes)?;
        self.per_repo(
            e,
            "borgwarehouse_repository_alert_seconds",
            "Seconds without a backup before the repository is late; 0 means not monitored.",
            |r| r.alert_seconds,
        )?;
        self.per_repo(
            e,
            "borgwarehouse_repository_status",
            "1 when the last backup is within the alert delay (the API's status), else 0; always 0 when alert is 0.",
            |r| bit(r.ok),
        )?;
        self.per_repo(
            e,
            "borgwarehouse_repository_append_only",
            "1 when the repository is append-only (its first key's mode).",
            |r| bit(r.append_only),
        )?;
        self.per_repo(
            e,
            "borgwarehouse_repository_keys",
            "Keys that may reach the repository, each its own authorized_keys line.",
            |r| u64::from(r.keys),
        )?;
        self.per_repo(
            e,
            "borgwarehouse_repository_archived",
            "1 when the repository is archived (its client cannot connect).",
            |r| bit(r.archived),
        )?;
        self.per_repo_with(
            e,
            "borgwarehouse_repository_last_session_end_timestamp_seconds",
            "Unix time the repository's newest client session ended (sessions on; absent before the first).",
            |r| r.last_session.map(|l| l.ended_at),
        )?;
        self.per_repo_with(
            e,
            "borgwarehouse_repository_last_session_exit_code",
            "borg serve's exit code in the repository's newest session: 0 ok, 1 warning, 2 error, 128+N signal N.",
            |r| r.last_session.map(|l| i64::from(l.exit_code)),
        )?;
        self.per_repo_with(
            e,
            "borgwarehouse_repository_last_verify_timestamp_seconds",
            "Unix time the server's last verify (borg check --repository-only) of the repository ended (absent before the first).",
            |r| r.last_verify.map(|(at, _)| at),
        )?;
        self.per_repo_with(
            e,
            "borgwarehouse_repository_last_verify_ok",
            "1 when the last verify found nothing wrong, 0 when it found damage (absent before the first).",
            |r| r.last_verify.map(|(_, ok)| i64::from(ok)),
        )?;
        {
            let mut metric = e.encode_descriptor(
                "borgwarehouse_repository_info",
                "The repository's alias (value 1), to join on repositoryName.",
                None,
                MetricType::Gauge,
            )?;
            for r in self.repos.iter() {
                let labels = [
                    ("repositoryName", Escaped(self.repos.text(r.name))),
                    ("alias", Escaped(self.repos.text(r.alias))),
                ];
                metric.encode_family(&labels)?.encode_gauge(&1u32)?;
            }
        }
        Ok(())
    }

    /// Sums over the repositories.
    fn encode_totals(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        Self::gauge(e, "borgwarehouse_repositories", "Repositories, archived ones included.", self.repos.len() as u64)?;
        Self::gauge(
            e,
            "borgwarehouse_repositories_archived",
            "Archived repositories.",
            self.repos.iter().filter(|r| r.archived).count() as u64,
        )?;
        Self::gauge(
            e,
            "borgwarehouse_repositories_late",
            "Monitored repositories (alert above 0, not archived) without a backup within their alert delay.",
            self.repos.iter().filter(|r| r.late).count() as u64,
        )?;
        Self::gauge(
            e,
            "borgwarehouse_repositories_used_bytes",
            "Disk space all repositories use.",
            self.repos.iter().map(|r| r.used_bytes).fold(0u64, u64::saturating_add),
        )?;
        Self::gauge(
            e,
            "borgwarehouse_repositories_quota_bytes",
            "The sum of all repositories' quotas.",
            self.repos.iter().map(|r| r.quota_bytes).fold(0u64, u64::saturating_add),
        )?;
        Ok(())
    }

    /// The checks' last runs (absent for a check that has not run since start-up).
    fn encode_check_runs(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let checks = &self.telemetry.checks;
        for (name, help, value) in [
            (
                "borgwarehouse_check_duration_seconds",
                "How long the check's last run took.",
                &(|r: &bw_api::telemetry::CheckRun| r.duration.as_secs_f64()) as &dyn Fn(&_) -> f64,
            ),
            (
                "borgwarehouse_check_last_run_timestamp_seconds",
                "Unix time at which the check's last run ended.",
                &|r: &bw_api::telemetry::CheckRun| r.ended_at as f64,
            ),
            (
                "borgwarehouse_check_success",
                "1 when the check's last run finished, 0 when it failed.",
                &|r: &bw_api::telemetry::CheckRun| f64::from(bit(r.succeeded)),
            ),
        ] {
            let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (check, run) in checks {
                metric.encode_family(&[("check", Escaped(check))])?.encode_gauge(&value(run))?;
            }
        }
        Ok(())
    }

    /// The server's own counters.
    fn encode_counters(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let t = &self.telemetry;
        let statuses: Vec<String> = t.requests.keys().map(|(_, _, status)| status.to_string()).collect();
        Self::counter(
            e,
            COUNTERS[0],
            "HTTP requests answered, by route template, method and status.",
            t.requests.iter().zip(&statuses).map(|(((route, method, _), n), status)| {
                (vec![("route", Escaped(route)), ("method", Escaped(method)), ("status", Escaped(status))], *n)
            }),
        )?;
        Self::counter(
            e,
            COUNTERS[1],
            "Refused credentials, by reason (unauthorized, invalid_api_key, cron_key, throttled).",
            t.auth_failures.iter().map(|(reason, n)| (vec![("reason", Escaped(reason))], *n)),
        )?;
        Self::counter(
            e,
            COUNTERS[2],
            "Lateness alerts handed to a channel, by channel and outcome (delivered, failed).",
            t.alert_deliveries.iter().map(|((channel, outcome), n)| {
                (vec![("channel", Escaped(channel)), ("outcome", Escaped(outcome))], *n)
            }),
        )?;
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        self.encode_build_info(e)?;
        self.encode_per_repository(e)?;
        self.encode_totals(e)?;
        if !self.host_wide {
            return Ok(());
        }
        self.encode_store(e)?;
        self.encode_check_runs(e)?;
        self.encode_counters(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut repos = RepoTable::default();
        repos.push(
            bw_store::repo_store::RepoSummary {
                id: 0,
                name: bw_host::pool::NameCode(0xabcd1234),
                alias: "a \"quoted\"\nback\\slash",
                last_save: 5,
                storage_used: 0,
                storage_size: 1,
                alert: 0,
                status: false,
                append_only: false,
                every_key_append_only: false,
                archived: false,
                keys: 2,
                tenant: None,
            },
            None,
            None,
        );
        repos.push(
            bw_store::repo_store::RepoSummary {
                id: 1,
                name: bw_host::pool::NameCode(0x0000beef),
                alias: "b",
                last_save: 7,
                storage_used: 0,
                storage_size: 1,
                alert: 0,
                status: false,
                append_only: false,
                every_key_append_only: false,
                archived: false,
                keys: 2,
                tenant: None,
            },
            Some(bw_store::session_store::LastSession { ended_at: 9, exit_code: 2 }),
            Some((11, false)),
        );
        let scrape = Scrape {
            repos,
            telemetry: TelemetrySnapshot::default(),
            host_wide: true,
            store: "embedded",
            leads: true,
            database: None,
            version: "1",
            plugins: "metrics".into(),
        };
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                r#"borgwarehouse_repository_info{repositoryName="abcd1234",alias="a \"quoted\"\nback\\slash"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("borgwarehouse_repository_last_backup_timestamp_seconds{repositoryName=\"abcd1234\"} 5\n")
        );
        // Session series only for a repository that had a session.
        assert!(
            text.contains(
                "borgwarehouse_repository_last_session_end_timestamp_seconds{repositoryName=\"0000beef\"} 9\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("borgwarehouse_repository_last_session_exit_code{repositoryName=\"0000beef\"} 2\n"),
            "{text}"
        );
        assert!(!text.contains("last_session_exit_code{repositoryName=\"abcd1234\""), "{text}");
        assert!(
            text.contains("borgwarehouse_repository_last_verify_timestamp_seconds{repositoryName=\"0000beef\"} 11\n")
        );
        assert!(text.contains("borgwarehouse_repository_last_verify_ok{repositoryName=\"0000beef\"} 0\n"), "{text}");
        assert!(!text.contains("last_verify_ok{repositoryName=\"abcd1234\""), "{text}");
    }
}
