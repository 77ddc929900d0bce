//! Times the parser on a few large inputs.
use std::time::Instant;
fn time(name: &str, src: &str) {
    let t = Instant::now();
    let r = rheobase_syntax::parse(src);
    println!("{name}: {:?} ok={}", t.elapsed(), r.is_ok());
}
fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    if which.is_empty() || which == "fillers" {
        for filler in ["a", "1+", "(", "'", " ", "[1,", "é"] {
            let src = format!("x = {}\n", filler.repeat(10_000_000 / filler.len()));
            time(filler, &src);
        }
    }
    if which.is_empty() || which == "indent" {
        let mut src = String::new();
        for k in 0..20_000 {
            src.push_str(&" ".repeat(k % 5000));
            src.push_str("x = 1\n");
        }
        time("indent", &src);
    }
    if which == "biglist" {
        let src = format!("x = [{}1]*ms\n", "1.5, ".repeat(200_000));
        println!("{} bytes", src.len());
        time("biglist", &src);
    }
    if which.is_empty() || which == "fine" {
        time("garbage", &"$%^ ?\n".repeat(200_000));
        time("fine", &"x = 1\n".repeat(200_000));
        time("fine2", &"x = 1\n".repeat(20_000));
    }
}
