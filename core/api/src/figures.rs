//! "Figures changed": what follows each write of repositories' figures (a check run, the
//! sessions taken in), in the one order that is right. The health rules read the history
//! before this change's points are in it (a growth is measured against the growths before it),
//! so they judge first; then the history gets its points.

use bw_store::store_error::StoreResult;

use crate::health::StorageChange;
use crate::history::HistoryOf;
use crate::state::AppState;

impl AppState {
    /// After figures were written: judges the storage `changes` by the health rules (queuing
    /// their alerts), then records the history points of `which`.
    pub async fn figures_changed(&self, changes: Vec<StorageChange>, which: HistoryOf<'_>) -> StoreResult<()> {
        self.judge_health(changes).await?;
        self.record_history(which).await
    }
}
