//! Control ops: work on the store that a plugin's subcommand asks for ([`crate::commands`]). A
//! running server does it, through its control socket (sled lets one process open the store);
//! with none running, the program opens the store and does it itself.

use std::sync::OnceLock;

use crate::commands::ControlRequest;
use crate::plugin_list::{sorted, DuplicatePlugin, Registered};
use crate::state::AppState;

/// Work on the store a subcommand asks for. Build one with [`control_op!`](crate::control_op).
pub struct ControlOp {
    /// The `op` of its requests.
    pub op: &'static str,
    /// Whether it may make a store where there is none (a first token, an import). One that
    /// only reads or removes never does: run from the wrong folder, it would answer from a new
    /// empty store.
    pub creates_store: bool,
    /// Runs on a blocking thread; the text is printed, an error on standard error.
    pub run: fn(&AppState, ControlRequest) -> Result<String, String>,
}

inventory::collect!(ControlOp);

/// Registers a control op: `control_op!("token-list", creates_store = false, list);`.
#[macro_export]
macro_rules! control_op {
    ($op:expr, creates_store = $creates:expr, $run:expr $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::control_ops::ControlOp { op: $op, creates_store: $creates, run: $run }
        }
    };
}

static OPS: Registered<ControlOp> = OnceLock::new();

/// Every control op built in, by op; an error names a duplicate.
pub fn control_ops() -> Result<&'static [&'static ControlOp], DuplicatePlugin> {
    OPS.get_or_init(|| sorted(inventory::iter::<ControlOp>.into_iter(), |o| o.op, "control op"))
        .as_deref()
        .map_err(Clone::clone)
}

/// The control op named `op`, if a plugin built in has it.
pub fn control_op(op: &str) -> Option<&'static ControlOp> {
    control_ops().ok()?.iter().copied().find(|o| o.op == op)
}
