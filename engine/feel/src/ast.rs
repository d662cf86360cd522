//! The syntax tree that both FEEL and JUEL expressions compile to, and the built-in function table.

use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::iso8601::IsoDuration;
use crate::temporal::{DateTime, Time};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    /// A number literal that is not an i64, exactly as written.
    Num(Decimal),
    Str(String),
    /// `@"2026-01-01"` and friends, read at parse time.
    Date(NaiveDate),
    Time(Time),
    DateTime(DateTime),
    Dur(IsoDuration),
    /// A string literal given as a regular expression, compiled once at parse time.
    Pattern(Arc<Pattern>),
}

/// A regular expression from a string literal (with its literal flags), compiled once.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub text: String,
    pub flags: String,
    pub re: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text && self.flags == other.flags
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    /// JUEL `%` / `mod`.
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// Equal to the value, or contained in it when it is a list.
    Value(Expr),
    /// `< 5`, `>= x`.
    Cmp(CmpOp, Expr),
    /// `[a..b]`, `(a..b)`, `]a..b[`.
    Range { lo: Expr, lo_incl: bool, hi: Expr, hi_incl: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeName {
    Any,
    Null,
    Number,
    String,
    Boolean,
    List,
    Context,
    Date,
    Time,
    DateTime,
    Duration,
    DaysTimeDuration,
    YearsMonthsDuration,
    Range,
    Function,
}

/// A type after `instance of`: `number`, `list<string>`, `context<a: number>`, `range<date>`,
/// `function<number> -> string`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TypeExpr {
    Named(TypeName),
    List(Box<TypeExpr>),
    Context(Vec<(String, TypeExpr)>),
    Range(Box<TypeExpr>),
    Function(Vec<TypeExpr>, Box<TypeExpr>),
}

// A lookup table, one row per `TypeName`, searched in order (the names of several words first,
// so `date and time` is tried before `date`): the rows look alike because they are data.
pub(crate) const TYPE_NAMES: &[(&str, TypeName)] = &[
    ("days and time duration", TypeName::DaysTimeDuration),
    ("years and months duration", TypeName::YearsMonthsDuration),
    ("date and time", TypeName::DateTime),
    ("Any", TypeName::Any),
    ("Null", TypeName::Null),
    ("number", TypeName::Number),
    ("string", TypeName::String),
    ("boolean", TypeName::Boolean),
    ("list", TypeName::List),
    ("context", TypeName::Context),
    ("date", TypeName::Date),
    ("time", TypeName::Time),
    ("duration", TypeName::Duration),
    ("range", TypeName::Range),
    ("function", TypeName::Function),
];

/// Where a `for` variable takes its values from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IterSrc {
    List(Expr),
    /// `for i in 1..n`: integers from one bound to the other, either direction.
    Range(Expr, Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Lit(Lit),
    Name(String),
    Path(Box<Expr>, String),
    Filter(Box<Expr>, Box<Expr>),
    /// JUEL `a[0]` / `a['key']`: 0-based list index or context key.
    JuelIndex(Box<Expr>, Box<Expr>),
    /// A built-in function; the arguments in the order of the signature the call matched.
    /// The last field is the call's byte offset in the source, for errors.
    Call(Builtin, Vec<Option<Expr>>, usize),
    /// A call of a function value: `f(1)`, `f(x: 1)`, `(function(a) a + 1)(2)`.
    Invoke(Box<Expr>, Vec<(Option<String>, Expr)>, usize),
    /// `function(a, b) body`.
    FuncDef(Vec<String>, Box<Expr>),
    /// A range as a value: `[1..10]`, `(a..b]`, `< 10` (an end is None when open-ended).
    Range {
        lo: Option<Box<Expr>>,
        lo_incl: bool,
        hi: Option<Box<Expr>>,
        hi_incl: bool,
    },
    /// `(= 10)` or `(!= 10)` as a value.
    UnaryTest(CmpOp, Box<Expr>),
    IsDefined(Box<Expr>),
    Neg(Box<Expr>),
    /// JUEL `!x` / `not x`.
    Not(Box<Expr>),
    /// JUEL `empty x`.
    Empty(Box<Expr>),
    /// A left-associative chain `a + b - c`, kept flat so long chains do not nest deeply.
    Arith(Box<Expr>, Vec<(ArOp, Expr)>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// The byte offset of an operator (or a `between`, `in`, `instance of`) around its
    /// operation, for errors; only where evaluation can fail there.
    At(usize, Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Vec<Test>),
    InstanceOf(Box<Expr>, TypeExpr),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    For(Vec<(String, IterSrc)>, Box<Expr>),
    Quant {
        every: bool,
        iters: Vec<(String, Expr)>,
        cond: Box<Expr>,
    },
    List(Vec<Expr>),
    Context(Vec<(String, Expr)>),
}

macro_rules! builtins {
    ($( $variant:ident = $name:literal [$($sig:literal),*] ),* $(,)?) => {
        /// A built-in function, resolved at parse time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Builtin { $($variant),* }

        /// (function, FEEL name, signatures). A signature lists the parameter names, comma
        /// separated; a last name ending in `...` takes one or more arguments.
        pub(crate) const BUILTINS: &[(Builtin, &str, &[&str])] = &[
            $( (Builtin::$variant, $name, &[$($sig),*]) ),*
        ];
    };
}

builtins! {
    Not = "not" ["negand"],
    IsDefined = "is defined" ["value"],
    GetOrElse = "get or else" ["value, default"],
    String = "string" ["from"],
    Number = "number" ["from", "from, grouping separator, decimal separator"],
    StringLength = "string length" ["string"],
    UpperCase = "upper case" ["string"],
    LowerCase = "lower case" ["string"],
    Substring = "substring" ["string, start position", "string, start position, length"],
    SubstringBefore = "substring before" ["string, match"],
    SubstringAfter = "substring after" ["string, match"],
    Contains = "contains" ["string, match"],
    StartsWith = "starts with" ["string, match"],
    EndsWith = "ends with" ["string, match"],
    Matches = "matches" ["input, pattern", "input, pattern, flags"],
    Replace = "replace" ["input, pattern, replacement", "input, pattern, replacement, flags"],
    Split = "split" ["string, delimiter"],
    Extract = "extract" ["string, pattern"],
    StringJoin = "string join" ["list", "list, delimiter", "list, delimiter, prefix, suffix"],
    Trim = "trim" ["string"],
    IsBlank = "is blank" ["string"],
    ToBase64 = "to base64" ["value"],
    FromBase64 = "from base64" ["value"],
    ToJson = "to json" ["value"],
    FromJson = "from json" ["value"],
    Count = "count" ["list..."],
    Sum = "sum" ["list..."],
    Product = "product" ["list..."],
    Min = "min" ["list..."],
    Max = "max" ["list..."],
    Mean = "mean" ["list..."],
    Median = "median" ["list..."],
    Stddev = "stddev" ["list..."],
    Mode = "mode" ["list..."],
    All = "all" ["list..."],
    Any = "any" ["list..."],
    ListContains = "list contains" ["list, element"],
    Append = "append" ["list, item..."],
    Concatenate = "concatenate" ["list..."],
    Union = "union" ["list..."],
    DistinctValues = "distinct values" ["list"],
    DuplicateValues = "duplicate values" ["list"],
    Flatten = "flatten" ["list"],
    IndexOf = "index of" ["list, match"],
    Reverse = "reverse" ["list"],
    Sort = "sort" ["list", "list, precedes"],
    Sublist = "sublist" ["list, start position", "list, start position, length"],
    Remove = "remove" ["list, position"],
    InsertBefore = "insert before" ["list, position, newItem"],
    ListReplace = "list replace" ["list, position, newItem", "list, match, newItem"],
    IsEmpty = "is empty" ["list"],
    Partition = "partition" ["list, size"],
    Abs = "abs" ["n"],
    Floor = "floor" ["n", "n, scale"],
    Ceiling = "ceiling" ["n", "n, scale"],
    Decimal = "decimal" ["n, scale"],
    RoundUp = "round up" ["n, scale"],
    RoundDown = "round down" ["n, scale"],
    RoundHalfUp = "round half up" ["n, scale"],
    RoundHalfDown = "round half down" ["n, scale"],
    Modulo = "modulo" ["dividend, divisor"],
    Sqrt = "sqrt" ["number"],
    Log = "log" ["number"],
    Exp = "exp" ["number"],
    Odd = "odd" ["number"],
    Even = "even" ["number"],
    GetValue = "get value" ["m, key"],
    GetEntries = "get entries" ["m"],
    Context = "context" ["entries"],
    ContextPut = "context put" ["context, key, value", "context, keys, value"],
    ContextMerge = "context merge" ["contexts"],
    DateAndTime = "date and time" ["from", "date, time"],
    Date = "date" ["from", "year, month, day"],
    Time = "time" ["from", "hour, minute, second", "hour, minute, second, offset"],
    Duration = "duration" ["from"],
    YearsAndMonthsDuration = "years and months duration" ["from, to"],
    Now = "now" [""],
    Today = "today" [""],
    DayOfYear = "day of year" ["date"],
    DayOfWeek = "day of week" ["date"],
    MonthOfYear = "month of year" ["date"],
    WeekOfYear = "week of year" ["date"],
    LastDayOfMonth = "last day of month" ["date"],
    Is = "is" ["value1, value2"],
    Range = "range" ["from"],
    Before = "before" ["point1, point2", "point, range", "range, point", "range1, range2"],
    After = "after" ["point1, point2", "point, range", "range, point", "range1, range2"],
    Meets = "meets" ["range1, range2"],
    MetBy = "met by" ["range1, range2"],
    Overlaps = "overlaps" ["range1, range2"],
    OverlapsBefore = "overlaps before" ["range1, range2"],
    OverlapsAfter = "overlaps after" ["range1, range2"],
    Finishes = "finishes" ["point, range", "range1, range2"],
    FinishedBy = "finished by" ["range, point", "range1, range2"],
    Includes = "includes" ["range, point", "range1, range2"],
    During = "during" ["point, range", "range1, range2"],
    Starts = "starts" ["point, range", "range1, range2"],
    StartedBy = "started by" ["range, point", "range1, range2"],
    Coincides = "coincides" ["point1, point2", "range1, range2"],
}

impl Builtin {
    pub(crate) fn name(self) -> &'static str {
        BUILTINS.iter().find(|b| b.0 == self).map_or("?", |b| b.1)
    }
}

/// The parameters of one signature, and whether the last one takes any number of arguments.
pub(crate) fn signature(sig: &str) -> (Vec<&str>, bool) {
    if sig.is_empty() {
        return (Vec::new(), false);
    }
    let mut params: Vec<&str> = sig.split(", ").collect();
    let mut varargs = false;
    if let Some(last) = params.last_mut()
        && let Some(p) = last.strip_suffix("...")
    {
        *last = p;
        varargs = true;
    }
    (params, varargs)
}
