//! Unix users, as the checks on file ownership name them.

use std::os::unix::fs::MetadataExt;

/// This process's effective user id (`/proc/self` belongs to it).
pub fn effective_uid() -> std::io::Result<u32> {
    Ok(std::fs::metadata("/proc/self")?.uid())
}

/// The name of a user id, from `/etc/passwd` (the number when it is not there).
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|l| {
                let fields: Vec<&str> = l.split(':').collect();
                (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}
