//! `kx-events-local`: run kx-events' consumer locally (work in progress).

fn main() {
    eprintln!("kx-events-local: the `run` command is not implemented yet");
    std::process::exit(2);
}
