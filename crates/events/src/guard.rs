//! Code that meets user input runs under a guard: a panic in it (a bug of
//! ours, or of a library's, such as the Parquet reader's on a corrupt file)
//! becomes an error that names what failed, so that one record or row is
//! rejected and the rest goes on.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// How many guards this thread is inside.
    static GUARDS: Cell<u32> = const { Cell::new(0) };
}

/// Run `f`; a panic in it comes back as `Err` with its message.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    GUARDS.with(|g| g.set(g.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDS.with(|g| g.set(g.get() - 1));
    result.map_err(|p| panic_message(p.as_ref()))
}

/// The text of a panic's payload.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// Keep the panic hook from printing (or aborting on) panics inside a
/// guard: their message reaches the user with the rejected record instead.
/// Other panics go to the hook that was installed before.
pub fn quiet_guarded_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDS.with(Cell::get) == 0 {
                before(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_an_error_outside() {
        quiet_guarded_panics();
        assert_eq!(guarded(|| 7), Ok(7));
        let e = guarded(|| -> u8 { panic!("boom {}", 1) }).unwrap_err();
        assert_eq!(e, "boom 1");
        let e = guarded(|| "é".as_bytes()[5]).unwrap_err();
        assert!(e.contains("index out of bounds"), "{e}");
    }
}
