//! The generator lifts its own limit on open files (a browser population holds a connection
//! for every request in flight). A test binary of its own: it lowers the limit of the process
//! it runs in, which would starve any test running beside it.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

#[test]
fn the_open_files_limit_is_raised_to_the_hard_one() {
    let hard = getrlimit(Resource::Nofile).maximum;
    // Lower the soft limit first, so that raising it has something to do.
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(64),
            maximum: hard,
        },
    )
    .expect("a soft limit below the hard one may always be set");
    assert_eq!(getrlimit(Resource::Nofile).current, Some(64));
    let now =
        loadgen::client::raise_open_files_limit().expect("raising to the hard limit is allowed");
    assert_eq!(now, hard);
    assert_eq!(getrlimit(Resource::Nofile).current, hard);
}
