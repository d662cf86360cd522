//! Recursive-descent parsers for FEEL and for Camunda 7 JUEL (`${...}`), both producing [`Expr`].
//!
//! FEEL precedence, loosest first (DMN 1.3 grammar): `if`/`for`/`some`/`every`, `or`, `and`,
//! comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`, `between`, `in`, `instance of`), `+ -`, `* /`,
//! `**`, unary `-`, then postfix path `.x`, filter `[..]` and calls.
//!
//! Why one file of this size: the two grammars share the parser state, the depth guard and the
//! error positions; each has a section of its own below (`FEEL`, `JUEL`).

use crate::ParseError;
use std::sync::Arc;

use crate::ast::{ArOp, BUILTINS, Builtin, CmpOp, Expr, IterSrc, Lit, Pattern, TYPE_NAMES, Test, TypeExpr, signature};
use crate::lexer::{Tok, Token, lex, perr};

/// Deepest nesting accepted; keeps evaluation recursion (and `Drop`) far from the stack limit.
pub(crate) const MAX_DEPTH: usize = 64;

/// Words that end a name: they cannot start a value.
const KEYWORDS: &[&str] = &["then", "else", "return", "satisfies", "in", "and", "or", "between", "instance", "of"];

/// Parses a whole expression as given to `Expression::parse`.
pub(crate) fn parse_source(src: &str, names: &[&str]) -> Result<Expr, ParseError> {
    let lead = src.len() - src.trim_start().len();
    let body = src.trim();
    if body.is_empty() {
        return Err(perr(src.len(), "the expression is empty"));
    }
    let (toks, juel) = if let Some(inner) = body.strip_prefix("${").or_else(|| body.strip_prefix("#{")) {
        let Some(inner) = inner.strip_suffix('}') else {
            return Err(perr(lead + body.len(), "expected `}` to close `${`"));
        };
        (lex(inner, lead + 2, true, &[])?, true)
    } else if let Some(rest) = body.strip_prefix('=') {
        (lex(rest, lead + 1, false, names)?, false)
    } else {
        (lex(body, lead, false, names)?, false)
    };
    let mut p = Parser { toks, pos: 0, depth: 0, bound: Vec::new() };
    if matches!(p.peek(), Tok::Eof) {
        return Err(perr(p.offset(), "the expression is empty"));
    }
    let e = if juel { p.j_ternary()? } else { p.expr()? };
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("after the end of the expression"));
    }
    Ok(e)
}

/// One test of DMN unary tests: a FEEL test of the input, or a boolean expression over `?`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UTest {
    Test(Test),
    Cond(Expr),
}

/// Parses DMN unary tests: `-`, `not(t1, t2)` or `t1, t2, …`, each test a comparison
/// (`< 5`), a range (`[1..10]`), a boolean expression using `?`, or an expression the input
/// must equal (or be in, for a list or a range). None stands for `-`.
pub(crate) fn parse_unary_tests(src: &str, names: &[&str]) -> Result<Option<(bool, Vec<UTest>)>, ParseError> {
    let lead = src.len() - src.trim_start().len();
    let body = src.trim();
    if body == "-" {
        return Ok(None);
    }
    if body.is_empty() {
        return Err(perr(src.len(), "the unary tests are empty (write `-` for any value)"));
    }
    let toks = lex(body, lead, false, names)?;
    let mut p = Parser { toks, pos: 0, depth: 0, bound: Vec::new() };
    if matches!(p.peek(), Tok::Name(n) if n == "not") && matches!(p.peek_at(1), Tok::Sym("(")) {
        p.bump();
        p.bump();
        let negated = p.unary_test_list().and_then(|tests| {
            p.expect_sym(")", "to close `not(`")?;
            Ok(tests)
        });
        match negated {
            Ok(tests) if matches!(p.peek(), Tok::Eof) => return Ok(Some((true, tests))),
            // `not(x) = y` and the like: an expression that starts with a call of `not`.
            _ => {
                p.pos = 0;
                p.depth = 0;
            }
        }
    }
    let tests = p.unary_test_list()?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("after the unary tests (separate tests with `,`)"));
    }
    Ok(Some((false, tests)))
}

/// Whether the expression reads `?`, the input of a unary test.
fn uses_input(e: &Expr) -> bool {
    let mut vars = Vec::new();
    crate::collect_vars(e, &mut Vec::new(), &mut vars);
    vars.iter().any(|v| v == "?")
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Names bound around the current position (context entries, function parameters, loop
    /// variables): only these can hold a function, so only these can be called besides the
    /// built-ins.
    bound: Vec<String>,
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
        let at = self.offset();
        let e = if let Tok::Sym(s) = self.peek()
            && let Some(op) = cmp_op(s)
        {
            self.bump();
            // `a >> 3`, `a <= < 3`: a unary test right after a comparison needs parentheses.
            if self.is_cmp_sym() {
                return Err(self.unexpected("after a comparison (write a unary test in parentheses)"));
            }
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
            Expr::InstanceOf(Box::new(left), self.type_expr()?)
        } else {
            return Ok(left);
        };
        if let Tok::Sym(s) = self.peek()
            && cmp_op(s).is_some()
        {
            return Err(perr(self.offset(), "comparisons cannot be chained: combine them with `and`"));
        }
        Ok(Expr::At(at, Box::new(e)))
    }

    /// A type: `number`, `date and time`, `list<T>`, `range<T>`, `context<a: T, b: U>`,
    /// `function<T, U> -> V`.
    fn type_expr(&mut self) -> Result<TypeExpr, ParseError> {
        self.enter()?;
        let r = self.type_expr_inner();
        self.depth -= 1;
        r
    }

    fn type_expr_inner(&mut self) -> Result<TypeExpr, ParseError> {
        let generic = matches!(self.peek_at(1), Tok::Sym("<"));
        if generic && let Tok::Name(n) = self.peek().clone() {
            match n.as_str() {
                "list" | "range" => {
                    self.bump();
                    self.bump();
                    let inner = self.type_expr()?;
                    self.expect_sym(">", "to close the type")?;
                    return Ok(if n == "list" {
                        TypeExpr::List(Box::new(inner))
                    } else {
                        TypeExpr::Range(Box::new(inner))
                    });
                }
                "context" => {
                    self.bump();
                    self.bump();
                    let mut entries = Vec::new();
                    if !self.eat_sym(">") {
                        loop {
                            let mut words = Vec::new();
                            while let Tok::Name(w) = self.peek().clone() {
                                self.bump();
                                words.push(w);
                            }
                            if words.is_empty()
                                && let Tok::Str(s) = self.peek().clone()
                            {
                                self.bump();
                                words.push(s);
                            }
                            self.expect_sym(":", "after the entry name in the context type")?;
                            entries.push((words.join(" "), self.type_expr()?));
                            if self.eat_sym(">") {
                                break;
                            }
                            self.expect_sym(",", "or `>` in the context type")?;
                        }
                    }
                    return Ok(TypeExpr::Context(entries));
                }
                "function" => {
                    self.bump();
                    self.bump();
                    let mut params = Vec::new();
                    if !self.eat_sym(">") {
                        loop {
                            params.push(self.type_expr()?);
                            if self.eat_sym(">") {
                                break;
                            }
                            self.expect_sym(",", "or `>` in the function type")?;
                        }
                    }
                    self.expect_sym("-", "(`->`) after the function's parameter types")?;
                    self.expect_sym(">", "(`->`) after the function's parameter types")?;
                    return Ok(TypeExpr::Function(params, Box::new(self.type_expr()?)));
                }
                _ => {}
            }
        }
        let found = TYPE_NAMES.iter().find(|(n, _)| self.words_match(n, 0));
        match found {
            Some((n, t)) => {
                for _ in n.split(' ') {
                    self.bump();
                }
                Ok(TypeExpr::Named(*t))
            }
            None => Err(perr(
                self.offset(),
                &format!(
                    "expected a type name after `instance of` (number, string, boolean, list, context, date, time, date and time, duration, range, function, list<T>, context<a: T>) but found {}",
                    describe(self.peek())
                ),
            )),
        }
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

    /// Comma-separated unary tests.
    fn unary_test_list(&mut self) -> Result<Vec<UTest>, ParseError> {
        let mut tests = vec![self.unary_test()?];
        while self.eat_sym(",") {
            tests.push(self.unary_test()?);
        }
        Ok(tests)
    }

    fn unary_test(&mut self) -> Result<UTest, ParseError> {
        if self.is_cmp_sym() {
            return Ok(UTest::Test(self.single_test()?));
        }
        if matches!(self.peek(), Tok::Sym("[" | "]" | "(")) {
            // A range or a list; an expression such as `(a + b) * 2` when more follows.
            let (pos, depth) = (self.pos, self.depth);
            if let Ok(t) = self.single_test()
                && matches!(self.peek(), Tok::Sym(",") | Tok::Sym(")") | Tok::Eof)
            {
                return Ok(match t {
                    Test::Value(e) if uses_input(&e) => UTest::Cond(e),
                    t => UTest::Test(t),
                });
            }
            self.pos = pos;
            self.depth = depth;
        }
        let e = self.expr()?;
        if uses_input(&e) { Ok(UTest::Cond(e)) } else { Ok(UTest::Test(Test::Value(e))) }
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
        let at = self.offset();
        loop {
            let op = match self.peek() {
                Tok::Sym(s) => ops.iter().find(|(t, _)| t == s).map(|(_, o)| *o),
                _ => None,
            };
            let Some(op) = op else { break };
            self.bump();
            rest.push((op, next(self)?));
        }
        Ok(if rest.is_empty() { first } else { Expr::At(at, Box::new(Expr::Arith(Box::new(first), rest))) })
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
                    Ok(n) => {
                        let mut n = n;
                        // Properties and entries may have spaces: `.time offset`.
                        while let Tok::Name(w) = self.peek()
                            && !self.ends_name(w)
                        {
                            n.push(' ');
                            n.push_str(w);
                            self.bump();
                        }
                        e = Expr::Path(Box::new(e), n);
                    }
                    Err(err) => break Err(err),
                }
            } else if self.is_sym("[") && !self.ends_open_range() {
                self.bump();
                self.bound.push("item".to_string());
                let f = self.bracketed(Self::expr, "to close the filter");
                self.bound.pop();
                match f {
                    Ok(f) => e = Expr::Filter(Box::new(e), Box::new(f)),
                    Err(err) => break Err(err),
                }
            } else if self.is_sym("(") {
                // Process data is JSON and holds no functions: only a function defined in the
                // expression (bound by name, or written out) can be called besides the built-ins.
                if !self.may_be_function(&e) {
                    break Err(perr(
                        self.offset(),
                        "only built-in functions and functions defined in the expression can be called",
                    ));
                }
                if let Err(err) = self.enter() {
                    break Err(err);
                }
                match self.invoke_args() {
                    Ok(args) => e = Expr::Invoke(Box::new(e), args, self.toks[self.pos.saturating_sub(1)].start),
                    Err(err) => break Err(err),
                }
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

    /// Whether `e` could give a function value: not a literal nor a variable of the process data.
    fn may_be_function(&self, e: &Expr) -> bool {
        match e {
            Expr::Lit(_) | Expr::List(_) => false,
            Expr::Name(n) => self.bound.contains(n),
            Expr::Path(b, _) | Expr::Filter(b, _) | Expr::At(_, b) => self.may_be_function(b),
            _ => true,
        }
    }

    /// True when the word `w` (just ahead) cannot continue a name of several words: a keyword.
    fn ends_name(&self, w: &str) -> bool {
        (KEYWORDS.contains(&w) && w != "of") || (w == "instance" && self.is_kw(1, "of"))
    }

    /// The arguments of a call of a function value, after its `(`: positional or named.
    fn invoke_args(&mut self) -> Result<Vec<(Option<String>, Expr)>, ParseError> {
        self.bump(); // `(`
        let mut args = Vec::new();
        if self.eat_sym(")") {
            return Ok(args);
        }
        loop {
            let mut k = 0;
            while matches!(self.peek_at(k), Tok::Name(_)) {
                k += 1;
            }
            if k > 0 && matches!(self.peek_at(k), Tok::Sym(":")) {
                let mut words = Vec::new();
                for _ in 0..k {
                    if let Tok::Name(w) = self.bump() {
                        words.push(w);
                    }
                }
                self.bump();
                args.push((Some(words.join(" ")), self.expr()?));
            } else {
                args.push((None, self.expr()?));
            }
            if self.eat_sym(")") {
                return Ok(args);
            }
            self.expect_sym(",", "or `)` after the argument")?;
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
                if self.eat_sym("..") {
                    return self.range_rest(e, false);
                }
                self.expect_sym(")", "to close the parenthesis")?;
                Ok(e)
            }
            Tok::Sym("[") => {
                self.bump();
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        let e = self.expr()?;
                        if items.is_empty() && self.eat_sym("..") {
                            return self.range_rest(e, true);
                        }
                        items.push(e);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.expect_sym(",", "or `]` in the list")?;
                    }
                }
                Ok(Expr::List(items))
            }
            Tok::Sym("]") => {
                // `]a..b]`: a range open at its start.
                self.bump();
                let e = self.expr()?;
                self.expect_sym("..", "in the range")?;
                self.range_rest(e, false)
            }
            Tok::Sym(s @ ("<" | "<=" | ">" | ">=" | "=" | "!=")) => {
                // A unary test as a value: `< 10` is the range up to 10.
                self.bump();
                self.enter()?;
                let v = self.additive();
                self.depth -= 1;
                let v = Box::new(v?);
                Ok(match s {
                    "<" => Expr::Range { lo: None, lo_incl: false, hi: Some(v), hi_incl: false },
                    "<=" => Expr::Range { lo: None, lo_incl: false, hi: Some(v), hi_incl: true },
                    ">" => Expr::Range { lo: Some(v), lo_incl: false, hi: None, hi_incl: false },
                    ">=" => Expr::Range { lo: Some(v), lo_incl: true, hi: None, hi_incl: false },
                    "=" => Expr::UnaryTest(CmpOp::Eq, v),
                    _ => Expr::UnaryTest(CmpOp::Ne, v),
                })
            }
            Tok::Sym("@") => {
                self.bump();
                let at = self.offset();
                match self.bump() {
                    Tok::Str(s) => match at_literal(&s) {
                        Some(l) => Ok(Expr::Lit(l)),
                        None => Err(perr(at, &format!("`@\"{s}\"` is not a date, time, date and time or duration"))),
                    },
                    t => Err(perr(at, &format!("expected a string after `@` but found {}", describe(&t)))),
                }
            }
            Tok::Sym("{") => self.context(),
            Tok::Sym("?") => {
                // The input of a DMN unary test (`? > 5 and ? < 10`).
                self.bump();
                Ok(Expr::Name("?".to_string()))
            }
            Tok::Name(n) => self.name_primary(n, start),
            t => Err(perr(start, &format!("expected a value but found {}", describe(&t)))),
        }
    }

    /// The rest of a range after `lo ..`: the end and the closing bracket.
    fn range_rest(&mut self, lo: Expr, lo_incl: bool) -> Result<Expr, ParseError> {
        let hi = self.expr()?;
        let hi_incl = self.range_close()?;
        Ok(Expr::Range { lo: Some(Box::new(lo)), lo_incl, hi: Some(Box::new(hi)), hi_incl })
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
                    // Words, and the operator characters FEEL names may hold (`foo+bar`).
                    let mut key = String::new();
                    let mut last_word = false;
                    loop {
                        match self.peek().clone() {
                            Tok::Name(w) => {
                                if last_word {
                                    key.push(' ');
                                }
                                key.push_str(&w);
                                last_word = true;
                            }
                            Tok::Int(i) if !last_word => key.push_str(&i.to_string()),
                            Tok::Sym(s @ ("+" | "-" | "*" | "/" | "." | "?")) => {
                                key.push_str(s);
                                last_word = false;
                            }
                            _ => break,
                        }
                        self.bump();
                    }
                    key
                }
                t => {
                    return Err(perr(
                        self.offset(),
                        &format!("expected a key in the context but found {}", describe(&t)),
                    ));
                }
            };
            if entries.iter().any(|(k, _): &(String, Expr)| *k == key) {
                return Err(perr(self.offset(), &format!("the key `{key}` appears twice in the context")));
            }
            self.expect_sym(":", "after the context key")?;
            self.bound.push(key.clone());
            let v = self.expr()?;
            entries.push((key, v));
            if self.eat_sym("}") {
                break;
            }
            self.expect_sym(",", "or `}` in the context")?;
        }
        self.bound.truncate(self.bound.len() - entries.len());
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
                return self.function_def();
            }
            _ => {}
        }
        // Longest built-in name first, so `string length(` is not read as `string`.
        let mut best: Option<(Builtin, &str, &[&str])> = None;
        for b in BUILTINS {
            let words = b.1.split(' ').count();
            if self.words_match(b.1, 0)
                && matches!(self.peek_at(words), Tok::Sym("("))
                && best.is_none_or(|x| x.1.split(' ').count() < words)
            {
                best = Some(*b);
            }
        }
        // A name of several words (`Full Name`), up to a keyword.
        let mut k = 1;
        let mut name = n.clone();
        while let Tok::Name(w) = self.peek_at(k) {
            if self.ends_name_at(k, w) {
                break;
            }
            name.push(' ');
            name.push_str(w);
            k += 1;
        }
        let called = matches!(self.peek_at(k), Tok::Sym("("));
        // A bound name (a function parameter, a context entry) wins over a built-in.
        if called && self.bound.contains(&name) {
            for _ in 0..k {
                self.bump();
            }
            self.enter()?;
            let args = self.invoke_args()?;
            self.depth -= 1;
            return Ok(Expr::Invoke(Box::new(Expr::Name(name)), args, start));
        }
        if let Some((f, fname, sigs)) = best {
            for _ in fname.split(' ') {
                self.bump();
            }
            return self.call(f, fname, sigs, start);
        }
        if called {
            return Err(perr(start, &unknown_function(&name)));
        }
        if KEYWORDS.contains(&n.as_str()) {
            return Err(perr(start, &format!("expected a value but found the keyword `{n}`")));
        }
        for _ in 0..k {
            self.bump();
        }
        Ok(Expr::Name(name))
    }

    /// `ends_name` for the word `k` tokens ahead.
    fn ends_name_at(&self, k: usize, w: &str) -> bool {
        (KEYWORDS.contains(&w) && w != "of") || (w == "instance" && self.is_kw(k + 1, "of"))
    }

    /// `function(a, b) body`.
    fn function_def(&mut self) -> Result<Expr, ParseError> {
        self.bump(); // `function`
        self.bump(); // `(`
        let mut params = Vec::new();
        if !self.eat_sym(")") {
            loop {
                let mut p = self.name("a parameter name")?;
                while let Tok::Name(w) = self.peek().clone() {
                    self.bump();
                    p.push(' ');
                    p.push_str(&w);
                }
                // A parameter type (`function(a: number)`) is accepted and not checked.
                if self.eat_sym(":") {
                    self.type_expr()?;
                }
                params.push(p);
                if self.eat_sym(")") {
                    break;
                }
                self.expect_sym(",", "or `)` after the parameter")?;
            }
        }
        let mark = self.bound.len();
        self.bound.extend(params.iter().cloned());
        self.enter()?;
        let body = self.expr();
        self.depth -= 1;
        self.bound.truncate(mark);
        Ok(Expr::FuncDef(params, Box::new(body?)))
    }

    fn call(&mut self, f: Builtin, name: &str, sigs: &[&str], start: usize) -> Result<Expr, ParseError> {
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
        let sigs: Vec<(Vec<&str>, bool)> = sigs.iter().map(|s| signature(s)).collect();
        let mut args: Vec<Option<Expr>> = if named.is_empty() {
            let n = positional.len();
            if !sigs.iter().any(|(p, var)| n == p.len() || (*var && n >= p.len())) {
                return Err(perr(start, &format!("`{name}` takes {} but was given {n}", arities(&sigs))));
            }
            positional.into_iter().map(Some).collect()
        } else {
            if !positional.is_empty() {
                return Err(perr(start, "use either positional or named arguments, not both"));
            }
            for (i, (pname, at, _)) in named.iter().enumerate() {
                if named[..i].iter().any(|(p, _, _)| p == pname) {
                    return Err(perr(*at, &format!("the argument `{pname}` is given twice")));
                }
            }
            // The shortest signature that has every name given; a parameter not given is null.
            let fits = sigs
                .iter()
                .filter(|(p, _)| named.iter().all(|(n, _, _)| p.contains(&n.as_str())))
                .min_by_key(|(p, _)| p.len());
            let Some((params, _)) = fits else {
                let (pname, at, _) = named
                    .iter()
                    .find(|(n, _, _)| !sigs.iter().any(|(p, _)| p.contains(&n.as_str())))
                    .unwrap_or(&named[0]);
                let all: Vec<String> = sigs.iter().map(|(p, _)| format!("({})", p.join(", "))).collect();
                if !sigs.iter().any(|(p, _)| p.contains(&pname.as_str())) {
                    return Err(perr(
                        *at,
                        &format!("`{name}` has no parameter `{pname}` (its parameters are {})", all.join(" or ")),
                    ));
                }
                return Err(perr(
                    start,
                    &format!(
                        "`{name}` cannot be called with these named arguments (its parameters are {})",
                        all.join(" or ")
                    ),
                ));
            };
            let mut args: Vec<Option<Expr>> = vec![None; params.len()];
            for (pname, _, e) in named {
                if let Some(i) = params.iter().position(|p| *p == pname) {
                    args[i] = Some(e);
                }
            }
            args
        };
        if let Some(pat) = self.pattern_arg(f, &args, start) {
            args[1] = Some(Expr::Lit(Lit::Pattern(pat?)));
        }
        Ok(match f {
            Builtin::IsDefined => match args.into_iter().next().flatten() {
                Some(a) => Expr::IsDefined(Box::new(a)),
                None => return Err(perr(start, "`is defined` needs an argument")),
            },
            _ => Expr::Call(f, args, start),
        })
    }

    /// A regular expression given as a string literal (with literal flags, or none) to
    /// `matches`, `replace`, `split` or `extract`, compiled once here.
    fn pattern_arg(&self, f: Builtin, args: &[Option<Expr>], start: usize) -> Option<Result<Arc<Pattern>, ParseError>> {
        let flags_at = match f {
            Builtin::Matches => Some(2),
            Builtin::Replace => Some(3),
            Builtin::Split | Builtin::Extract => None,
            _ => return None,
        };
        let Some(Some(Expr::Lit(Lit::Str(text)))) = args.get(1) else { return None };
        let flags = match flags_at.and_then(|i| args.get(i)) {
            None | Some(None) => String::new(),
            Some(Some(Expr::Lit(Lit::Str(fl)))) => fl.clone(),
            Some(Some(Expr::Lit(Lit::Null))) => String::new(),
            Some(Some(_)) => return None,
        };
        // A pattern that does not compile is found when the model is read.
        Some(match crate::regexp::compile(text, &flags) {
            Ok(re) => Ok(Arc::new(Pattern { text: text.clone(), flags, re })),
            Err(m) => Err(perr(start, &m)),
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
            self.bound.push(n.clone());
            iters.push((n, src));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("return", "in the `for` expression")?;
        self.bound.push("partial".to_string());
        let body = self.expr()?;
        self.bound.truncate(self.bound.len() - iters.len() - 1);
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
            let src = self.expr()?;
            self.bound.push(n.clone());
            iters.push((n, src));
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("satisfies", "after the list")?;
        let cond = self.expr()?;
        self.bound.truncate(self.bound.len() - iters.len());
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

/// Parses a type as written after `instance of` (`list<number>`).
pub(crate) fn parse_type(src: &str) -> Result<TypeExpr, ParseError> {
    let toks = lex(src, 0, false, &[])?;
    let mut p = Parser { toks, pos: 0, depth: 0, bound: Vec::new() };
    let t = p.type_expr()?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected("after the type"));
    }
    Ok(t)
}

/// "1 argument", "1 or 3 arguments", "at least 1 argument".
fn arities(sigs: &[(Vec<&str>, bool)]) -> String {
    let mut counts: Vec<usize> = sigs.iter().map(|(p, _)| p.len()).collect();
    counts.sort_unstable();
    counts.dedup();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if let Some((p, true)) = sigs.first() {
        return format!("at least {} argument{}", p.len(), plural(p.len()));
    }
    let last = counts.last().copied().unwrap_or(0);
    let text: Vec<String> = counts.iter().map(ToString::to_string).collect();
    match text.len() {
        0 | 1 => format!("{last} argument{}", plural(last)),
        _ => format!("{} or {} arguments", text[..text.len() - 1].join(", "), last),
    }
}

/// The value of an `@"…"` literal: a date, time, date and time or duration.
fn at_literal(s: &str) -> Option<Lit> {
    if let Some(d) = crate::temporal::parse_date(s) {
        return Some(Lit::Date(d));
    }
    if let Some(t) = crate::temporal::parse_date_time(s) {
        return Some(Lit::DateTime(t));
    }
    if let Some(t) = crate::temporal::parse_time(s) {
        return Some(Lit::Time(t));
    }
    if s.starts_with(['P', '-']) {
        return crate::iso8601::parse_duration(s).ok().map(Lit::Dur);
    }
    None
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
