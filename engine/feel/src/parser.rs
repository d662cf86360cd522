//! Recursive-descent parsers for FEEL and for Camunda 7 JUEL (`${...}`), both producing [`Expr`].
//!
//! FEEL precedence, loosest first (DMN 1.3 grammar): `if`/`for`/`some`/`every`, `or`, `and`,
//! comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`, `between`, `in`, `instance of`), `+ -`, `* /`,
//! `**`, unary `-`, then postfix path `.x`, filter `[..]` and calls.
//!
//! Why one file of this size: the two grammars share the parser state, the depth guard and the
//! error positions; each has a section of its own below (`FEEL`, `JUEL`).

use crate::ParseError;
use crate::ast::{ArOp, BUILTINS, Builtin, CmpOp, Expr, IterSrc, Lit, TYPE_NAMES, Test};
use crate::lexer::{Tok, Token, lex, perr};

/// Deepest nesting accepted; keeps evaluation recursion (and `Drop`) far from the stack limit.
pub(crate) const MAX_DEPTH: usize = 64;

/// Words that end a name: they cannot start a value.
const KEYWORDS: &[&str] = &["then", "else", "return", "satisfies", "in", "and", "or", "between", "instance", "of"];

/// Parses a whole expression as given to `Expression::parse`.
pub(crate) fn parse_source(src: &str) -> Result<Expr, ParseError> {
    let lead = src.len() - src.trim_start().len();
    let body = src.trim();
    if body.is_empty() {
        return Err(perr(src.len(), "the expression is empty"));
    }
    let (toks, juel) = if let Some(inner) = body.strip_prefix("${").or_else(|| body.strip_prefix("#{")) {
        let Some(inner) = inner.strip_suffix('}') else {
            return Err(perr(lead + body.len(), "expected `}` to close `${`"));
        };
        (lex(inner, lead + 2, true)?, true)
    } else if let Some(rest) = body.strip_prefix('=') {
        (lex(rest, lead + 1, false)?, false)
    } else {
        (lex(body, lead, false)?, false)
    };
    let mut p = Parser { toks, pos: 0, depth: 0 };
    if matches!(p.peek(), Tok::Eof) {
        return Err(perr(p.offset(), "the expression is empty"));
    }
    let e = if juel { p.j_ternary()? } else { p.expr()? };
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("after the end of the expression"));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Int(v) => format!("the number {v}"),
        Tok::Num(v) => format!("the number {v}"),
        Tok::Str(s) => format!("the string \"{s}\""),
        Tok::Name(n) => format!("`{n}`"),
        Tok::Sym(s) => format!("`{s}`"),
        Tok::Eof => "the end of the expression".to_string(),
    }
}

fn cmp_op(s: &str) -> Option<CmpOp> {
    Some(match s {
        "=" | "==" | "eq" => CmpOp::Eq,
        "!=" | "ne" => CmpOp::Ne,
        "<" | "lt" => CmpOp::Lt,
        "<=" | "le" => CmpOp::Le,
        ">" | "gt" => CmpOp::Gt,
        ">=" | "ge" => CmpOp::Ge,
        _ => return None,
    })
}

fn fold_neg(e: Expr) -> Expr {
    match e {
        Expr::Lit(Lit::Int(v)) if v != i64::MIN => Expr::Lit(Lit::Int(-v)),
        Expr::Lit(Lit::Num(v)) => Expr::Lit(Lit::Num(-v)),
        other => Expr::Neg(Box::new(other)),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> &Tok {
        let i = (self.pos + k).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].start
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    fn is_kw(&self, k: usize, kw: &str) -> bool {
        matches!(self.peek_at(k), Tok::Name(n) if n == kw)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        let hit = self.is_sym(s);
        if hit {
            self.bump();
        }
        hit
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.is_kw(0, kw);
        if hit {
            self.bump();
        }
        hit
    }

    fn unexpected(&self, context: &str) -> ParseError {
        perr(self.offset(), &format!("unexpected {} {context}", describe(self.peek())))
    }

    fn expect_sym(&mut self, s: &str, context: &str) -> Result<(), ParseError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(perr(self.offset(), &format!("expected `{s}` {context} but found {}", describe(self.peek()))))
        }
    }

    fn expect_kw(&mut self, kw: &str, context: &str) -> Result<(), ParseError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(perr(self.offset(), &format!("expected `{kw}` {context} but found {}", describe(self.peek()))))
        }
    }

    fn name(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Name(n) => {
                self.bump();
                Ok(n)
            }
            t => Err(perr(self.offset(), &format!("expected {what} but found {}", describe(&t)))),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(perr(
                self.offset(),
                &format!("the expression is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- FEEL

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.disjunction();
        self.depth -= 1;
        e
    }

    fn disjunction(&mut self) -> Result<Expr, ParseError> {
        self.keyword_chain("or", Self::conjunction, Expr::Or)
    }

    fn conjunction(&mut self) -> Result<Expr, ParseError> {
        self.keyword_chain("and", Self::comparison, Expr::And)
    }

    /// `next (kw next)*`: one `make` node of all the operands when the keyword appears at all.
    fn keyword_chain(
        &mut self,
        kw: &str,
        next: fn(&mut Self) -> Result<Expr, ParseError>,
        make: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, ParseError> {
        let first = next(self)?;
        if !self.is_kw(0, kw) {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.eat_kw(kw) {
            all.push(next(self)?);
        }
        Ok(make(all))
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let left = self.additive()?;
        let e = if let Tok::Sym(s) = self.peek()
            && let Some(op) = cmp_op(s)
        {
            self.bump();
            let right = self.additive()?;
            Expr::Cmp(op, Box::new(left), Box::new(right))
        } else if self.eat_kw("between") {
            let lo = self.additive()?;
            self.expect_kw("and", "between the bounds of `between`")?;
            let hi = self.additive()?;
            Expr::Between(Box::new(left), Box::new(lo), Box::new(hi))
        } else if self.eat_kw("in") {
            Expr::In(Box::new(left), self.in_tests()?)
        } else if self.is_kw(0, "instance") && self.is_kw(1, "of") {
            self.bump();
            self.bump();
            let found = TYPE_NAMES.iter().find(|(n, _)| self.words_match(n, 0));
            match found {
                Some((n, t)) => {
                    for _ in n.split(' ') {
                        self.bump();
                    }
                    Expr::InstanceOf(Box::new(left), *t)
                }
                None => {
                    return Err(perr(
                        self.offset(),
                        &format!(
                            "expected a type name after `instance of` (number, string, boolean, list, context, date, time, date and time, duration) but found {}",
                            describe(self.peek())
                        ),
                    ));
                }
            }
        } else {
            return Ok(left);
        };
        if let Tok::Sym(s) = self.peek()
            && cmp_op(s).is_some()
        {
            return Err(perr(self.offset(), "comparisons cannot be chained: combine them with `and`"));
        }
        Ok(e)
    }

    fn is_cmp_sym(&self) -> bool {
        matches!(self.peek(), Tok::Sym("<" | "<=" | ">" | ">=" | "=" | "!="))
    }

    /// The right side of `x in ...`: one test, or a parenthesized, comma-separated list.
    fn in_tests(&mut self) -> Result<Vec<Test>, ParseError> {
        if !self.is_sym("(") {
            return Ok(vec![self.single_test()?]);
        }
        self.bump();
        self.enter()?;
        let result = (|| {
            if self.is_cmp_sym() {
                let mut tests = vec![self.single_test()?];
                while self.eat_sym(",") {
                    tests.push(self.single_test()?);
                }
                self.expect_sym(")", "to close the list of tests")?;
                return Ok(tests);
            }
            let e = self.expr()?;
            if self.eat_sym("..") {
                let hi = self.expr()?;
                let hi_incl = self.range_close()?;
                return Ok(vec![Test::Range { lo: e, lo_incl: false, hi, hi_incl }]);
            }
            let mut tests = vec![Test::Value(e)];
            while self.eat_sym(",") {
                tests.push(self.single_test()?);
            }
            self.expect_sym(")", "to close the list of tests")?;
            Ok(tests)
        })();
        self.depth -= 1;
        result
    }

    fn range_close(&mut self) -> Result<bool, ParseError> {
        match self.peek() {
            Tok::Sym("]") => {
                self.bump();
                Ok(true)
            }
            Tok::Sym(")" | "[") => {
                self.bump();
                Ok(false)
            }
            t => Err(perr(self.offset(), &format!("expected `]` or `)` to close the range but found {}", describe(t)))),
        }
    }

    fn single_test(&mut self) -> Result<Test, ParseError> {
        if let Tok::Sym(s) = self.peek()
            && let Some(op) = cmp_op(s)
        {
            self.bump();
            let v = self.additive()?;
            return Ok(match op {
                CmpOp::Eq => Test::Value(v),
                _ => Test::Cmp(op, v),
            });
        }
        let open = match self.peek() {
            Tok::Sym(s @ ("[" | "]" | "(")) => *s,
            _ => return Ok(Test::Value(self.additive()?)),
        };
        if open == "[" && matches!(self.peek_at(1), Tok::Sym("]")) {
            self.bump();
            self.bump();
            return Ok(Test::Value(Expr::List(Vec::new())));
        }
        self.bump();
        self.enter()?;
        let result = (|| {
            let e = self.expr()?;
            if self.eat_sym("..") {
                let hi = self.expr()?;
                let hi_incl = self.range_close()?;
                return Ok(Test::Range { lo: e, lo_incl: open == "[", hi, hi_incl });
            }
            match open {
                "[" => {
                    let mut items = vec![e];
                    while self.eat_sym(",") {
                        items.push(self.expr()?);
                    }
                    self.expect_sym("]", "to close the list")?;
                    Ok(Test::Value(Expr::List(items)))
                }
                "(" => {
                    self.expect_sym(")", "to close the parenthesis")?;
                    Ok(Test::Value(e))
                }
                _ => Err(perr(self.offset(), "expected `..` in the range")),
            }
        })();
        self.depth -= 1;
        result
    }

    fn arith_chain(
        &mut self,
        ops: &[(&str, ArOp)],
        next: fn(&mut Self) -> Result<Expr, ParseError>,
    ) -> Result<Expr, ParseError> {
        let first = next(self)?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::Sym(s) => ops.iter().find(|(t, _)| t == s).map(|(_, o)| *o),
                _ => None,
            };
            let Some(op) = op else { break };
            self.bump();
            rest.push((op, next(self)?));
        }
        Ok(if rest.is_empty() { first } else { Expr::Arith(Box::new(first), rest) })
    }

    fn additive(&mut self) -> Result<Expr, ParseError> {
        self.arith_chain(&[("+", ArOp::Add), ("-", ArOp::Sub)], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Expr, ParseError> {
        self.arith_chain(&[("*", ArOp::Mul), ("/", ArOp::Div)], Self::exponent)
    }

    fn exponent(&mut self) -> Result<Expr, ParseError> {
        self.arith_chain(&[("**", ArOp::Pow)], Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.is_sym("-") {
            self.bump();
            self.enter()?;
            let e = self.unary();
            self.depth -= 1;
            return Ok(fold_neg(e?));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        let saved = self.depth;
        let result = loop {
            if self.is_sym(".") {
                self.bump();
                if let Err(err) = self.enter() {
                    break Err(err);
                }
                match self.name("a name after `.`") {
                    Ok(n) => e = Expr::Path(Box::new(e), n),
                    Err(err) => break Err(err),
                }
            } else if self.is_sym("[") && !self.ends_open_range() {
                self.bump();
                match self.bracketed(Self::expr, "to close the filter") {
                    Ok(f) => e = Expr::Filter(Box::new(e), Box::new(f)),
                    Err(err) => break Err(err),
                }
            } else if self.is_sym("(") {
                break Err(perr(self.offset(), "only built-in functions can be called, by name"));
            } else {
                break Ok(e);
            }
        };
        self.depth = saved;
        result
    }

    /// True when the `[` ahead closes an open range (`]1..10[`) rather than starting a filter:
    /// nothing that could start a value follows it.
    fn ends_open_range(&self) -> bool {
        match self.peek_at(1) {
            Tok::Eof | Tok::Sym(")" | "]" | "," | "}") => true,
            Tok::Name(n) => KEYWORDS.contains(&n.as_str()),
            _ => false,
        }
    }

    /// True when the tokens from `pos + k` spell the words of `name`.
    fn words_match(&self, name: &str, k: usize) -> bool {
        name.split(' ').enumerate().all(|(i, w)| matches!(self.peek_at(k + i), Tok::Name(n) if n == w))
    }

    /// After a `[`: one level deeper, what `inner` parses, then the closing `]` (a FEEL filter, a
    /// JUEL index).
    fn bracketed(
        &mut self,
        inner: fn(&mut Self) -> Result<Expr, ParseError>,
        closing: &str,
    ) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = inner(self)?;
        self.expect_sym("]", closing)?;
        Ok(e)
    }

    /// A number or string literal, shared by both grammars (`None`: not a literal, nothing read).
    fn literal(&mut self) -> Option<Expr> {
        let lit = match self.peek() {
            Tok::Int(v) => Lit::Int(*v),
            Tok::Num(v) => Lit::Num(*v),
            Tok::Str(s) => Lit::Str(s.clone()),
            _ => return None,
        };
        self.bump();
        Some(Expr::Lit(lit))
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let start = self.offset();
        if let Some(lit) = self.literal() {
            return Ok(lit);
        }
        match self.peek().clone() {
            Tok::Sym("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_sym(")", "to close the parenthesis")?;
                Ok(e)
            }
            Tok::Sym("[") => {
                self.bump();
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        items.push(self.expr()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.expect_sym(",", "or `]` in the list")?;
                    }
                }
                Ok(Expr::List(items))
            }
            Tok::Sym("{") => self.context(),
            Tok::Name(n) => self.name_primary(n, start),
            t => Err(perr(start, &format!("expected a value but found {}", describe(&t)))),
        }
    }

    fn context(&mut self) -> Result<Expr, ParseError> {
        self.bump();
        let mut entries = Vec::new();
        if self.eat_sym("}") {
            return Ok(Expr::Context(entries));
        }
        loop {
            let key = match self.peek().clone() {
                Tok::Str(s) => {
                    self.bump();
                    s
                }
                Tok::Name(_) => {
                    let mut words = Vec::new();
                    while let Tok::Name(w) = self.peek().clone() {
                        self.bump();
                        words.push(w);
                    }
                    words.join(" ")
                }
                t => {
                    return Err(perr(
                        self.offset(),
                        &format!("expected a key in the context but found {}", describe(&t)),
                    ));
                }
            };
            self.expect_sym(":", "after the context key")?;
            let v = self.expr()?;
            entries.push((key, v));
            if self.eat_sym("}") {
                break;
            }
            self.expect_sym(",", "or `}` in the context")?;
        }
        Ok(Expr::Context(entries))
    }

    fn name_primary(&mut self, n: String, start: usize) -> Result<Expr, ParseError> {
        match n.as_str() {
            "true" => {
                self.bump();
                return Ok(Expr::Lit(Lit::Bool(true)));
            }
            "false" => {
                self.bump();
                return Ok(Expr::Lit(Lit::Bool(false)));
            }
            "null" => {
                self.bump();
                return Ok(Expr::Lit(Lit::Null));
            }
            "if" => return self.if_expr(),
            "for" if matches!(self.peek_at(1), Tok::Name(_)) && self.is_kw(2, "in") => {
                return self.for_expr();
            }
            "some" | "every" if matches!(self.peek_at(1), Tok::Name(_)) && self.is_kw(2, "in") => {
                return self.quantified(n == "every");
            }
            "function" if matches!(self.peek_at(1), Tok::Sym("(")) => {
                return Err(perr(start, "function definitions are not supported"));
            }
            _ => {}
        }
        // Longest built-in name first, so `string length(` is not read as `string`.
        let mut best: Option<(Builtin, &str, usize, usize, &[&str])> = None;
        for b in BUILTINS {
            let words = b.1.split(' ').count();
            if self.words_match(b.1, 0)
                && matches!(self.peek_at(words), Tok::Sym("("))
                && best.is_none_or(|x| x.1.split(' ').count() < words)
            {
                best = Some(*b);
            }
        }
        if let Some((f, name, min, max, params)) = best {
            for _ in name.split(' ') {
                self.bump();
            }
            return self.call(f, name, min, max, params, start);
        }
        // `name words(`: an unknown (possibly multi-word) function name.
        let mut k = 0;
        let mut words = Vec::new();
        while let Tok::Name(w) = self.peek_at(k) {
            if k > 0 && KEYWORDS.contains(&w.as_str()) {
                break;
            }
            words.push(w.clone());
            k += 1;
        }
        if matches!(self.peek_at(k), Tok::Sym("(")) {
            return Err(perr(start, &unknown_function(&words.join(" "))));
        }
        if KEYWORDS.contains(&n.as_str()) {
            return Err(perr(start, &format!("expected a value but found the keyword `{n}`")));
        }
        self.bump();
        Ok(Expr::Name(n))
    }

    fn call(
        &mut self,
        f: Builtin,
        name: &str,
        min: usize,
        max: usize,
        params: &[&str],
        start: usize,
    ) -> Result<Expr, ParseError> {
        self.bump(); // `(`
        self.enter()?;
        let mut positional: Vec<Expr> = Vec::new();
        let mut named: Vec<(String, usize, Expr)> = Vec::new();
        if !self.eat_sym(")") {
            loop {
                // A named argument is one or more names followed by `:`.
                let mut k = 0;
                while matches!(self.peek_at(k), Tok::Name(_)) {
                    k += 1;
                }
                if k > 0 && matches!(self.peek_at(k), Tok::Sym(":")) {
                    let at = self.offset();
                    let mut words = Vec::new();
                    for _ in 0..k {
                        if let Tok::Name(w) = self.bump() {
                            words.push(w);
                        }
                    }
                    self.bump();
                    named.push((words.join(" "), at, self.expr()?));
                } else {
                    if !named.is_empty() {
                        return Err(perr(self.offset(), "positional arguments cannot follow named ones"));
                    }
                    positional.push(self.expr()?);
                }
                if self.eat_sym(")") {
                    break;
                }
                self.expect_sym(",", "or `)` after the argument")?;
            }
        }
        self.depth -= 1;
        let args: Vec<Option<Expr>> = if named.is_empty() {
            let n = positional.len();
            if n < min || n > max {
                let takes = if min == max {
                    format!("{min} argument{}", if min == 1 { "" } else { "s" })
                } else if max == usize::MAX {
                    format!("at least {min} argument{}", if min == 1 { "" } else { "s" })
                } else {
                    format!("{min} to {max} arguments")
                };
                return Err(perr(start, &format!("`{name}` takes {takes} but was given {n}")));
            }
            positional.into_iter().map(Some).collect()
        } else {
            if !positional.is_empty() {
                return Err(perr(start, "use either positional or named arguments, not both"));
            }
            let mut args: Vec<Option<Expr>> = vec![None; params.len()];
            for (pname, at, e) in named {
                let Some(i) = params.iter().position(|p| *p == pname) else {
                    return Err(perr(
                        at,
                        &format!(
                            "`{name}` has no parameter `{pname}` (its parameters are {})",
                            params.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                if args[i].is_some() {
                    return Err(perr(at, &format!("the argument `{pname}` is given twice")));
                }
                args[i] = Some(e);
            }
            if let Some(missing) = (0..min.min(params.len())).find(|i| args[*i].is_none()) {
                return Err(perr(start, &format!("`{name}` needs the argument `{}`", params[missing])));
            }
            while args.last().is_some_and(Option::is_none) {
                args.pop();
            }
            args
        };
        Ok(match f {
            Builtin::IsDefined => match args.into_iter().next().flatten() {
                Some(a) => Expr::IsDefined(Box::new(a)),
                None => return Err(perr(start, "`is defined` needs an argument")),
            },
            _ => Expr::Call(f, args),
        })
    }

    fn if_expr(&mut self) -> Result<Expr, ParseError> {
        self.bump();
        let c = self.expr()?;
        self.expect_kw("then", "after the `if` condition")?;
        let a = self.expr()?;
        self.expect_kw("else", "after the `then` branch (FEEL requires an `else`)")?;
        let b = self.expr()?;
        Ok(Expr::If(Box::new(c), Box::new(a), Box::new(b)))
    }

    fn for_expr(&mut self) -> Result<Expr, ParseError> {
        self.bump();
        let mut iters = Vec::new();
        let saved = self.depth;
        loop {
            // Each iterator nests one loop deeper at evaluation time.
            self.enter()?;
            let n = self.name("a variable name after `for`")?;
            self.expect_kw("in", "after the `for` variable")?;
            let src = self.expr()?;
            let src = if self.eat_sym("..") { IterSrc::Range(src, self.expr()?) } else { IterSrc::List(src) };
            iters.push((n, src));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("return", "in the `for` expression")?;
        let body = self.expr()?;
        self.depth = saved;
        Ok(Expr::For(iters, Box::new(body)))
    }

    fn quantified(&mut self, every: bool) -> Result<Expr, ParseError> {
        self.bump();
        let mut iters = Vec::new();
        let saved = self.depth;
        loop {
            self.enter()?;
            let n = self.name("a variable name")?;
            self.expect_kw("in", "after the variable")?;
            iters.push((n, self.expr()?));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("satisfies", "after the list")?;
        let cond = self.expr()?;
        self.depth = saved;
        Ok(Expr::Quant { every, iters, cond: Box::new(cond) })
    }

    // ---------------------------------------------------------------- JUEL

    fn j_ternary(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let result = (|| {
            let c = self.j_or()?;
            if !self.eat_sym("?") {
                return Ok(c);
            }
            let a = self.j_ternary()?;
            self.expect_sym(":", "in the `? :` expression")?;
            let b = self.j_ternary()?;
            Ok(Expr::If(Box::new(c), Box::new(a), Box::new(b)))
        })();
        self.depth -= 1;
        result
    }

    fn j_or(&mut self) -> Result<Expr, ParseError> {
        let first = self.j_and()?;
        let mut all = vec![first];
        while self.eat_sym("||") || self.eat_kw("or") {
            all.push(self.j_and()?);
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Expr::Or(all) })
    }

    fn j_and(&mut self) -> Result<Expr, ParseError> {
        let first = self.j_eq()?;
        let mut all = vec![first];
        while self.eat_sym("&&") || self.eat_kw("and") {
            all.push(self.j_eq()?);
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Expr::And(all) })
    }

    fn j_cmp_chain(
        &mut self,
        ops: &[&str],
        next: fn(&mut Self) -> Result<Expr, ParseError>,
    ) -> Result<Expr, ParseError> {
        let mut left = next(self)?;
        let saved = self.depth;
        let result = loop {
            let op = match self.peek() {
                Tok::Sym(s) if ops.contains(s) => cmp_op(s),
                Tok::Name(s) if ops.contains(&s.as_str()) => cmp_op(s),
                _ => None,
            };
            let Some(op) = op else { break Ok(left) };
            if op == CmpOp::Eq && self.is_sym("=") {
                break Err(perr(self.offset(), "use `==` to compare in `${...}` expressions"));
            }
            self.bump();
            if let Err(e) = self.enter() {
                break Err(e);
            }
            match next(self) {
                Ok(right) => left = Expr::Cmp(op, Box::new(left), Box::new(right)),
                Err(e) => break Err(e),
            }
        };
        self.depth = saved;
        result
    }

    fn j_eq(&mut self) -> Result<Expr, ParseError> {
        self.j_cmp_chain(&["==", "!=", "eq", "ne", "="], Self::j_rel)
    }

    fn j_rel(&mut self) -> Result<Expr, ParseError> {
        self.j_cmp_chain(&["<", "<=", ">", ">=", "lt", "le", "gt", "ge"], Self::j_add)
    }

    fn j_add(&mut self) -> Result<Expr, ParseError> {
        self.arith_chain(&[("+", ArOp::Add), ("-", ArOp::Sub)], Self::j_mul)
    }

    fn j_mul(&mut self) -> Result<Expr, ParseError> {
        let first = self.j_unary()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::Sym("*") => ArOp::Mul,
                Tok::Sym("/") => ArOp::Div,
                Tok::Sym("%") => ArOp::Rem,
                Tok::Name(n) if n == "div" => ArOp::Div,
                Tok::Name(n) if n == "mod" => ArOp::Rem,
                _ => break,
            };
            self.bump();
            rest.push((op, self.j_unary()?));
        }
        Ok(if rest.is_empty() { first } else { Expr::Arith(Box::new(first), rest) })
    }

    fn j_unary(&mut self) -> Result<Expr, ParseError> {
        let kind = match self.peek() {
            Tok::Sym("-") => 1,
            Tok::Sym("!") => 2,
            Tok::Name(n) if n == "not" => 2,
            Tok::Name(n) if n == "empty" => 3,
            _ => return self.j_postfix(),
        };
        self.bump();
        self.enter()?;
        let e = self.j_unary();
        self.depth -= 1;
        let e = e?;
        Ok(match kind {
            1 => fold_neg(e),
            2 => Expr::Not(Box::new(e)),
            _ => Expr::Empty(Box::new(e)),
        })
    }

    // Same loop as the FEEL `postfix` above, kept apart because the grammars differ: JUEL's `[` is
    // always an index (`JuelIndex`, no open range `]a..b[` to look ahead for) and its errors name
    // JUEL's terms (properties, `${...}` calls); a shared loop would need a flag at each branch.
    fn j_postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.j_primary()?;
        let saved = self.depth;
        let result = loop {
            if self.eat_sym(".") {
                if let Err(err) = self.enter() {
                    break Err(err);
                }
                match self.name("a property name after `.`") {
                    Ok(n) => e = Expr::Path(Box::new(e), n),
                    Err(err) => break Err(err),
                }
            } else if self.eat_sym("[") {
                match self.bracketed(Self::j_ternary, "to close the index") {
                    Ok(i) => e = Expr::JuelIndex(Box::new(e), Box::new(i)),
                    Err(err) => break Err(err),
                }
            } else if self.is_sym("(") {
                break Err(perr(self.offset(), "method and function calls are not supported in `${...}` expressions"));
            } else {
                break Ok(e);
            }
        };
        self.depth = saved;
        result
    }

    fn j_primary(&mut self) -> Result<Expr, ParseError> {
        let start = self.offset();
        if let Some(lit) = self.literal() {
            return Ok(lit);
        }
        match self.peek().clone() {
            Tok::Sym("(") => {
                self.bump();
                let e = self.j_ternary()?;
                self.expect_sym(")", "to close the parenthesis")?;
                Ok(e)
            }
            Tok::Name(n) => {
                self.bump();
                Ok(match n.as_str() {
                    "true" => Expr::Lit(Lit::Bool(true)),
                    "false" => Expr::Lit(Lit::Bool(false)),
                    "null" => Expr::Lit(Lit::Null),
                    _ => Expr::Name(n),
                })
            }
            t => Err(perr(start, &format!("expected a value but found {}", describe(&t)))),
        }
    }
}

fn unknown_function(n: &str) -> String {
    let best = BUILTINS.iter().map(|b| (levenshtein(n, b.1), b.1)).min_by_key(|(d, _)| *d);
    match best {
        Some((d, s)) if d <= 2.max(n.len() / 3) => {
            format!("unknown function `{n}` (did you mean `{s}`?)")
        }
        _ => format!("unknown function `{n}`"),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
