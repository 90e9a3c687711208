#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Panics that sendlens catches (and rejects the input for) are not
    // findings; libFuzzer's own hook would abort on them.
    sendlens_fuzz::quiet_guarded_panics();
    sendlens_fuzz::report_render(data)
});
