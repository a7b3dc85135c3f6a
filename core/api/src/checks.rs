//! What the two scheduled checks (`cron-status`, `cron-storage`) share: one run at a time (a
//! second gets the contract's 409), each run's duration, end and outcome recorded for the
//! metrics, the readers' results split into what was read and what failed, and the plugin's
//! registration with its three routes (the 2.x path, and the v1 path by POST and by GET) and
//! its task, made by [`check_plugin!`]. Each plugin keeps only what its check reads and decides.

use std::future::Future;
use std::time::Instant;

use crate::body::CronSuccess;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::telemetry::CheckRun;
use bw_host::folder_scan::{ScanFailure, ScanTarget};

/// One scheduled check, as the runner and its routes name it.
pub struct Check {
    /// The task's name: the scheduler's, the run lock's, and the `refresh` route's.
    pub task: &'static str,
    /// Its label in the metrics (`check="status"`).
    pub label: &'static str,
    /// The contract's 409 message while a run is under way.
    pub busy: &'static str,
    /// The contract's 200 `success` text.
    pub done: &'static str,
}

impl Check {
    /// Runs `body` (given the run's start) unless a run is already under way, and records it.
    pub async fn run<T, F>(&self, state: &AppState, body: impl FnOnce(Instant) -> F) -> ApiResult<T>
    where
        F: Future<Output = ApiResult<T>>,
    {
        let _run = state.start_run(self.task, self.busy)?;
        let started = Instant::now();
        let result = body(started).await;
        state.telemetry.check_finished(
            self.label,
            CheckRun { duration: started.elapsed(), ended_at: state.clock.now(), succeeded: result.is_ok() },
        );
        result
    }

    /// The routes' answer once a run succeeded.
    pub fn success(&self) -> poem_openapi::payload::Json<CronSuccess> {
        poem_openapi::payload::Json(CronSuccess { success: self.done.into() })
    }
}

/// The readers' results: `(id, value)` of each repository read, and how many could not be
/// (each logged; the check keeps its old figures).
pub fn read_or_log<T>(check: &Check, results: Vec<(ScanTarget, Result<T, ScanFailure>)>) -> (Vec<(u64, T)>, usize) {
    let mut read = Vec::with_capacity(results.len());
    let mut failed = 0;
    for (repo, result) in results {
        match result {
            Ok(value) => read.push((repo.id, value)),
            Err(e) => {
                failed += 1;
                tracing::warn!(check = check.label, repository = %repo.repository_name, error = %e, "repository not read; keeping its old figures");
            }
        }
    }
    (read, failed)
}

/// What each of a check's routes answers.
pub type CheckAnswer = crate::refusals::Answer<poem_openapi::payload::Json<CronSuccess>, { crate::refusals::CONFLICT }>;

/// A check plugin whole: its three routes on `$api` (a unit struct), each answering `$run(state)`
/// with the check's success text (the 2.x path with the cron key as a header, and the v1 path by
/// POST and by GET with the key as a header or `?key=`, as BorgWarehouse's crontab sends it),
/// registered as the endpoint plugin `$check.task`, and `$run` as the task of that name every
/// `$interval`. The caller names `Tag` (`use bw_api::tags::CronTag as Tag;`).
#[macro_export]
macro_rules! check_plugin {
    (
        $api:ident, $check:expr, $run:path, interval = $interval:expr,
        summary = $summary:literal, by_get = $by_get:literal,
        bw2 = ($bw2_path:literal, $bw2_id:literal),
        v1 = ($v1_path:literal, $v1_id:literal, $v1_get_id:literal) $(,)?
    ) => {
        pub struct $api;

        #[poem_openapi::OpenApi]
        impl $api {
            #[doc = $summary]
            #[oai(path = $bw2_path, method = "post", tag = "Tag::Cron", operation_id = $bw2_id)]
            async fn bw2(
                &self,
                state: poem::web::Data<&$crate::state::AppState>,
                _caller: $crate::auth::Guard<$crate::auth::CronKey>,
            ) -> $crate::checks::CheckAnswer {
                $run(&state).await.map(|_| $check.success()).map_err(Into::into)
            }

            #[doc = $summary]
            #[oai(path = $v1_path, method = "post", tag = "Tag::CronV1", operation_id = $v1_id)]
            async fn v1(
                &self,
                state: poem::web::Data<&$crate::state::AppState>,
                _caller: $crate::auth::Guard<$crate::auth::CronKeyOrQuery>,
            ) -> $crate::checks::CheckAnswer {
                $run(&state).await.map(|_| $check.success()).map_err(Into::into)
            }

            #[doc = $by_get]
            #[oai(path = $v1_path, method = "get", tag = "Tag::CronV1", operation_id = $v1_get_id)]
            async fn v1_get(
                &self,
                state: poem::web::Data<&$crate::state::AppState>,
                _caller: $crate::auth::Guard<$crate::auth::CronKeyOrQuery>,
            ) -> $crate::checks::CheckAnswer {
                $run(&state).await.map(|_| $check.success()).map_err(Into::into)
            }
        }

        $crate::endpoint_plugin!($check.task, $api, $api);
        $crate::task_plugin!(
            $check.task,
            $interval,
            |state: $crate::state::AppState| -> $crate::registry::TaskFuture {
                Box::pin(async move { $run(&state).await.map(|_| ()) })
            }
        );
    };
}
