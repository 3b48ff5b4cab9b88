//! Traffic roles that would contradict each other are refused with what
//! to do instead (issue 18): a version cannot be the canary and the
//! shadow at once, whichever is set first.

mod app;

use app::App;
use edgeserve_test_support::{Repo, components};

#[test]
fn a_version_is_never_canary_and_shadow_at_once() {
    let repo = Repo::new().unwrap();
    for v in ["1", "2", "3"] {
        repo.add("m", v, components::FAULTY, "[config]\nmode = \"echo\"\n")
            .unwrap();
    }
    let app = App::start(&repo, "");
    let d = app.deployer();
    app.run(d.set_canary("m", "2", 10)).unwrap();
    let e = app.run(d.set_shadow("m", "2")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "m@2 is the canary (it answers 10% of the traffic); a shadow only gets copies and \
         must answer none: stop the canary first (edgeserve canary m --clear) or shadow \
         another version"
    );
    app.run(d.set_shadow("m", "1")).unwrap();
    let e = app.run(d.set_canary("m", "1", 5)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "m@1 is the shadow (it gets a copy of the primary's traffic); stop the shadow first \
         (edgeserve shadow m --clear) to make it the canary"
    );
    // Nothing changed: 2 is still the canary, 1 still the shadow.
    let st = app.model_status("m");
    assert_eq!(st["canary"]["version"], "2", "{st}");
    assert_eq!(st["shadow"], "1", "{st}");
}
