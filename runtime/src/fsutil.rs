//! Crash-safe file writes (temp file, fsync, rename, fsync the folder), and
//! private folders: the state folder and everything in it are the node's
//! own, created `0700`/`0600` and refused when others may write them.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that after a crash the file holds either the
/// old contents or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, None)
}

/// [`write_atomic`] for the node's own files: the file is created `0600`
/// and a missing folder `0700`.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, Some(0o600))
}

fn write_atomic_with(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    match mode {
        Some(_) => create_private_dir_all(dir)?,
        None => std::fs::create_dir_all(dir)?,
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // A leftover of a crashed writer with the same name is not reused.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Flushes a folder's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents with mode `0700` (an existing
/// folder keeps its mode; [`check_private_dir`] judges it).
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Why a folder cannot hold the node's state.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    /// It cannot be inspected.
    #[error("cannot inspect {path}: {source}")]
    Io {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a folder, or a symlink.
    #[error("{0} is not a folder (a symlink is not accepted either)")]
    NotDir(String),
    /// Another user owns it.
    #[error("{path} belongs to user {owner}, not to this process's user {me}; chown it")]
    Owner {
        /// The folder.
        path: String,
        /// Its owner's uid.
        owner: u32,
        /// Ours.
        me: u32,
    },
    /// Group or others may write it.
    #[error(
        "{path} can be written by group or others (mode {mode:04o}): anyone who can write the \
         state folder can make this node run their code; run: chmod go-w {path}"
    )]
    Writable {
        /// The folder.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

/// Checks that `dir` is a folder (not a symlink) owned by this process's
/// user that neither group nor others may write.
pub fn check_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    let path = dir.display().to_string();
    let meta = std::fs::symlink_metadata(dir).map_err(|source| PrivateDirError::Io {
        path: path.clone(),
        source,
    })?;
    if !meta.file_type().is_dir() {
        return Err(PrivateDirError::NotDir(path));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        #[allow(unsafe_code, reason = "geteuid: no arguments, cannot fail")]
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(PrivateDirError::Owner {
                path,
                owner: meta.uid(),
                me,
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(PrivateDirError::Writable { path, mode });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("edgeserve-fsutil-{}", std::process::id()));
        let path = dir.join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_files_and_folders() {
        use std::os::unix::fs::PermissionsExt;
        let root = edgeserve_test_support::tempfile::tempdir().unwrap();
        let file = root.path().join("state").join("aot").join("x.cwasm");
        write_private(&file, b"secret").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&root.path().join("state")), 0o700);
        check_private_dir(&root.path().join("state")).unwrap();
        std::fs::set_permissions(
            root.path().join("state"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let err = check_private_dir(&root.path().join("state")).unwrap_err();
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        assert!(matches!(
            check_private_dir(&file),
            Err(PrivateDirError::NotDir(_))
        ));
    }
}
