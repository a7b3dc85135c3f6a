//! Whether passwords may sign a person in on the page: a plugin that signs people in another
//! way (through providers) may refuse them (`DISABLE_PASSWORD_LOGIN`). The sign-in route asks
//! every policy built in; the command line is never refused.

use crate::state::AppState;

/// A plugin's rule for password sign-ins. Register one with `password_policy!`.
pub struct PasswordPolicy {
    /// `Some(why)` when password sign-ins are refused now.
    pub refuses: fn(&AppState) -> Option<String>,
}

inventory::collect!(PasswordPolicy);

/// Registers a password policy: `password_policy!(refuses);`.
#[macro_export]
macro_rules! password_policy {
    ($refuses:expr) => {
        $crate::__private::inventory::submit! {
            $crate::password_policy::PasswordPolicy { refuses: $refuses }
        }
    };
}

/// Why password sign-ins are refused now, if a policy built in says so.
pub fn password_sign_in_refused(state: &AppState) -> Option<String> {
    inventory::iter::<PasswordPolicy>.into_iter().find_map(|p| (p.refuses)(state))
}
