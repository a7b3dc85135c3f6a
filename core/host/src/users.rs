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

/// Whether the user `uid` (primary group `gid`) can run `program`: a regular file with an
/// execute bit for them, in folders they may enter. sshd runs each line's forced command as the
/// borg user, so a program it cannot run would lock that line's client out. For this process's
/// own user the kernel is asked (it also knows supplementary groups and ACLs); for another,
/// the mode bits are read, and a program reached through a supplementary group only is refused.
pub fn can_run(uid: u32, gid: u32, program: &std::path::Path) -> Result<(), String> {
    let who = format!("{} (uid {uid})", user_name(uid));
    let meta = std::fs::metadata(program).map_err(|e| format!("{}: {e}", program.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a program file", program.display()));
    }
    if effective_uid().ok() == Some(uid) {
        return rustix::fs::access(program, rustix::fs::Access::EXEC_OK)
            .map_err(|e| format!("{who} cannot run {} ({e})", program.display()));
    }
    for path in program.ancestors() {
        let m = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mode = m.mode();
        let allowed = match uid {
            // Root passes every folder, and runs a file with any execute bit.
            0 => !m.is_file() || mode & 0o111 != 0,
            _ if m.uid() == uid => mode & 0o100 != 0,
            _ if m.gid() == gid => mode & 0o010 != 0,
            _ => mode & 0o001 != 0,
        };
        if !allowed {
            let what = if m.is_file() { "run" } else { "enter" };
            return Err(format!("{who} cannot {what} {} to run {}", path.display(), program.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::can_run;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &std::path::Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn another_user_runs_by_the_mode_bits_of_the_file_and_every_folder_above() {
        let dir = tempfile::tempdir().unwrap();
        let (folder, program) = (dir.path().join("bin"), dir.path().join("bin/recorder"));
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        mode(dir.path(), 0o755);
        // uid 4242 owns neither, and is not in their group: the "other" bits decide.
        let stranger = |p: &std::path::Path| can_run(4242, 4242, p);
        mode(&folder, 0o755);
        mode(&program, 0o755);
        assert_eq!(stranger(&program), Ok(()));
        mode(&program, 0o750);
        assert!(stranger(&program).unwrap_err().contains("cannot run"), "{:?}", stranger(&program));
        mode(&program, 0o755);
        mode(&folder, 0o750);
        let refused = stranger(&program).unwrap_err();
        assert!(refused.contains("cannot enter") && refused.contains("/bin"), "{refused}");
        mode(&folder, 0o755);
        assert!(stranger(&folder).unwrap_err().contains("not a program file"));
        assert!(stranger(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn this_user_is_asked_of_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("recorder");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        let me = super::effective_uid().unwrap();
        mode(&program, 0o644);
        // Root may run a file only when some execute bit is set; anyone else needs their own.
        assert!(can_run(me, 0, &program).is_err());
        mode(&program, 0o700);
        assert_eq!(can_run(me, 0, &program), Ok(()));
    }
}
