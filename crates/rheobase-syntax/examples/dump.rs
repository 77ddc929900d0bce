//! Prints the AST or the errors of a model file, for debugging the parser.
fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let src = std::fs::read_to_string(&path).unwrap_or_default();
    match rheobase_syntax::parse(&src) {
        Ok(m) => println!("{m:#?}"),
        Err(ds) => {
            for d in ds {
                let (l, c) = rheobase_syntax::line_col(&src, d.span.start);
                println!(
                    "{l}:{c}: {} [{}..{}] {:?} {:?} {:?}",
                    d.message, d.span.start, d.span.end, d.label, d.notes, d.secondary
                );
            }
        }
    }
}
