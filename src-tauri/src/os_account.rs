//! The OS account signed in to the desk PC, as the OS itself reports it
//! (S22): the `USER` and `USERNAME` variables are the user's to set, so a
//! sign-in record that trusted them could name anyone.

/// The account's name, or `None` when the OS cannot say.
pub fn os_account() -> Option<String> {
    imp::name().map(|n| clean(&n)).filter(|n| !n.is_empty())
}

/// Kept to one printable line: it goes into records and the screen.
fn clean(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(unix)]
mod imp {
    /// uid → user name through the password database (`getpwuid_r`).
    pub fn name() -> Option<String> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `id -un` asks the password database, as the OS does; the USER
    /// variable (set to something else by the runner or a user) plays no
    /// part in either.
    #[cfg(unix)]
    #[test]
    fn s22_the_os_account_is_the_one_the_os_reports() {
        let out = std::process::Command::new("id")
            .arg("-un")
            .env("USER", "impostor")
            .output()
            .expect("id runs");
        let expected = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(os_account().as_deref(), Some(expected.as_str()));
        assert_ne!(expected, "impostor");
    }

    #[test]
    fn names_are_one_printable_line() {
        assert_eq!(clean("ann\n\u{7}smith"), "annsmith");
        assert_eq!(clean(&"x".repeat(100)).len(), 64);
    }
}
