fn main() {
    let code = one_storage::dispatch::main(std::env::args_os().collect());
    std::process::exit(code);
}
