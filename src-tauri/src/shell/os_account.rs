//! The OS account signed in to the desk PC, and its home folder, as the OS
//! itself reports them (S19, S22): `USER`, `USERNAME`, `HOME` and
//! `XDG_DATA_HOME` are the user's to set, so a sign-in record that trusted
//! them could name anyone, and a data folder found through them could be
//! any empty folder.

/// The account's name, or `None` when the OS cannot say.
pub(crate) fn os_account() -> Option<String> {
    imp::name().map(|n| clean(&n)).filter(|n| !n.is_empty())
}

/// Where the desk keeps its data when the IT policy pins it: the account's
/// standard app-data folder, found from the OS, never from the environment.
/// `None` where the OS cannot say (the caller then keeps Tauri's default).
pub(crate) fn pinned_data_dir(identifier: &str) -> Option<std::path::PathBuf> {
    imp::data_root().map(|root| root.join(identifier))
}

/// Windows: where desks before the local folder kept their data
/// (`folder_move`), from the known-folder API.
#[cfg(windows)]
pub fn roaming_data_dir(identifier: &str) -> Option<std::path::PathBuf> {
    imp::roaming_root().map(|root| root.join(identifier))
}

/// Kept to one printable line: it goes into records and the screen.
fn clean(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(unix)]
mod imp {
    use std::path::PathBuf;

    /// The account's home folder from the password database.
    fn home() -> Option<PathBuf> {
        // SAFETY: as in `name`: getpwuid_r writes only into `pwd` and `buf`.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut buf = vec![0 as libc::c_char; 4096];
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(
                libc::geteuid(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            );
            if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
                return None;
            }
            let dir = std::ffi::CStr::from_ptr(pwd.pw_dir)
                .to_string_lossy()
                .into_owned();
            (!dir.is_empty()).then(|| PathBuf::from(dir))
        }
    }

    /// Where Tauri's app-data folder is by default, without the variables.
    pub(super) fn data_root() -> Option<PathBuf> {
        let home = home()?;
        Some(if cfg!(target_os = "macos") {
            home.join("Library").join("Application Support")
        } else {
            home.join(".local").join("share")
        })
    }

    /// uid → user name through the password database (`getpwuid_r`).
    pub(super) fn name() -> Option<String> {
        // SAFETY: getpwuid_r writes only into `pwd` and `buf`, both owned
        // here and sized as passed; `result` is checked before `pwd` is read.
        unsafe {
            let uid = libc::geteuid();
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut buf = vec![0 as libc::c_char; 4096];
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
            if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
                // An account with no entry (a container, say) is still an
                // account: name it by its number.
                return Some(format!("uid {uid}"));
            }
            Some(
                std::ffi::CStr::from_ptr(pwd.pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    }
}

#[cfg(windows)]
mod imp {
    use windows_sys::Win32::System::WindowsProgramming::GetUserNameW;

    /// The local app-data known folder (the data folder's parent, see
    /// `data_folder`), from the known-folder API rather than the
    /// `LOCALAPPDATA` variable.
    pub fn data_root() -> Option<std::path::PathBuf> {
        known_folders::get_known_folder_path(known_folders::KnownFolder::LocalAppData)
    }

    /// Where desks before the move to the local folder kept their data.
    pub fn roaming_root() -> Option<std::path::PathBuf> {
        known_folders::get_known_folder_path(known_folders::KnownFolder::RoamingAppData)
    }

    /// The account of the calling thread (`GetUserNameW`).
    pub fn name() -> Option<String> {
        let mut buf = [0u16; 257];
        let mut len = buf.len() as u32;
        // SAFETY: the buffer and its length are passed together; on success
        // `len` counts the characters written, terminator included.
        let ok = unsafe { GetUserNameW(buf.as_mut_ptr(), &mut len) };
        if ok == 0 || len == 0 {
            return None;
        }
        Some(String::from_utf16_lossy(&buf[..(len as usize - 1)]))
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    pub fn name() -> Option<String> {
        None
    }

    pub fn data_root() -> Option<std::path::PathBuf> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD: &str = "COUNTERSIGN_OS_ACCOUNT_CHILD";

    /// Prints what this module finds, in a process whose account and home
    /// variables lie.
    #[test]
    #[ignore = "run by s22_the_os_account_and_data_folder_ignore_the_user_s_variables, in a child process"]
    fn child_prints_what_the_os_says() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        println!("\nACCOUNT={}", os_account().unwrap_or_default());
        let dir = pinned_data_dir("id").unwrap_or_default();
        println!("DATA={}", dir.display());
    }

    /// The variables are set on a child copy of this test binary only
    /// (setting them here would be unsound in a multi-threaded test run).
    #[cfg(unix)]
    #[test]
    fn s22_the_os_account_and_data_folder_ignore_the_user_s_variables() {
        let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "shell::os_account::tests::child_prints_what_the_os_says",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("USER", "impostor")
            .env("LOGNAME", "impostor")
            .env("USERNAME", "impostor")
            .env("HOME", "/tmp/impostor-home")
            .env("XDG_DATA_HOME", "/tmp/impostor-data")
            .output()
            .expect("the child runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in the child's output: {text}"))
                .to_owned()
        };
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id runs");
        let expected = String::from_utf8_lossy(&id.stdout).trim().to_owned();
        assert_eq!(field("ACCOUNT="), expected);
        let data = field("DATA=");
        assert!(!data.is_empty() && !data.contains("impostor"), "{data}");
    }

    /// The home folder comes from the password database, as `getent`
    /// reads it, not from HOME or XDG_DATA_HOME.
    #[cfg(target_os = "linux")]
    #[test]
    fn s19_the_pinned_data_folder_is_found_from_the_os() {
        let name = os_account().expect("an account");
        let out = std::process::Command::new("getent")
            .args(["passwd", &name])
            .output()
            .expect("getent runs");
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let home = line.split(':').nth(5).expect("a home field");
        assert_eq!(
            pinned_data_dir("com.countersign.desk"),
            Some(std::path::Path::new(home).join(".local/share/com.countersign.desk"))
        );
    }

    #[test]
    fn names_are_one_printable_line() {
        assert_eq!(clean("ann\n\u{7}smith"), "annsmith");
        assert_eq!(clean(&"x".repeat(100)).len(), 64);
    }
}
