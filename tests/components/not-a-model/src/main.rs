//! A plain WASI command: a valid component with the wrong exports.
fn main() {
    println!("I am not a model");
}
