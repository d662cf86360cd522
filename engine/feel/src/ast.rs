//! The syntax tree that both FEEL and JUEL expressions compile to, and the built-in function table.

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    /// A number literal that is not an i64, exactly as written.
    Num(Decimal),
    Str(String),
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
    Call(Builtin, Vec<Option<Expr>>),
    IsDefined(Box<Expr>),
    Neg(Box<Expr>),
    /// JUEL `!x` / `not x`.
    Not(Box<Expr>),
    /// JUEL `empty x`.
    Empty(Box<Expr>),
    /// A left-associative chain `a + b - c`, kept flat so long chains do not nest deeply.
    Arith(Box<Expr>, Vec<(ArOp, Expr)>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Vec<Test>),
    InstanceOf(Box<Expr>, TypeName),
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
    ($( $variant:ident = $name:literal [$min:literal, $max:expr] ($($param:literal),*) ),* $(,)?) => {
        /// A built-in function, resolved at parse time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Builtin { $($variant),* }

        /// (function, FEEL name, least and most positional arguments (usize::MAX = any), parameter names)
        pub(crate) const BUILTINS: &[(Builtin, &str, usize, usize, &[&str])] = &[
            $( (Builtin::$variant, $name, $min, $max, &[$($param),*]) ),*
        ];
    };
}

const ANY: usize = usize::MAX;

builtins! {
    Not = "not" [1, 1] ("negand"),
    IsDefined = "is defined" [1, 1] ("value"),
    String = "string" [1, 1] ("from"),
    Number = "number" [1, 1] ("from"),
    StringLength = "string length" [1, 1] ("string"),
    UpperCase = "upper case" [1, 1] ("string"),
    LowerCase = "lower case" [1, 1] ("string"),
    Substring = "substring" [2, 3] ("string", "start position", "length"),
    SubstringBefore = "substring before" [2, 2] ("string", "match"),
    SubstringAfter = "substring after" [2, 2] ("string", "match"),
    Contains = "contains" [2, 2] ("string", "match"),
    StartsWith = "starts with" [2, 2] ("string", "match"),
    EndsWith = "ends with" [2, 2] ("string", "match"),
    Split = "split" [2, 2] ("string", "delimiter"),
    StringJoin = "string join" [1, 2] ("list", "delimiter"),
    Trim = "trim" [1, 1] ("string"),
    Count = "count" [1, ANY] ("list"),
    Sum = "sum" [1, ANY] ("list"),
    Min = "min" [1, ANY] ("list"),
    Max = "max" [1, ANY] ("list"),
    Mean = "mean" [1, ANY] ("list"),
    All = "all" [1, ANY] ("list"),
    Any = "any" [1, ANY] ("list"),
    ListContains = "list contains" [2, 2] ("list", "element"),
    Append = "append" [1, ANY] ("list", "item"),
    Concatenate = "concatenate" [0, ANY] ("list"),
    DistinctValues = "distinct values" [1, 1] ("list"),
    Flatten = "flatten" [1, 1] ("list"),
    IndexOf = "index of" [2, 2] ("list", "match"),
    Reverse = "reverse" [1, 1] ("list"),
    Sort = "sort" [1, 1] ("list"),
    Sublist = "sublist" [2, 3] ("list", "start position", "length"),
    Remove = "remove" [2, 2] ("list", "position"),
    InsertBefore = "insert before" [3, 3] ("list", "position", "newItem"),
    Abs = "abs" [1, 1] ("n"),
    Floor = "floor" [1, 1] ("n"),
    Ceiling = "ceiling" [1, 1] ("n"),
    Decimal = "decimal" [2, 2] ("n", "scale"),
    RoundUp = "round up" [2, 2] ("n", "scale"),
    RoundDown = "round down" [2, 2] ("n", "scale"),
    RoundHalfUp = "round half up" [2, 2] ("n", "scale"),
    RoundHalfDown = "round half down" [2, 2] ("n", "scale"),
    Modulo = "modulo" [2, 2] ("dividend", "divisor"),
    Sqrt = "sqrt" [1, 1] ("number"),
    Odd = "odd" [1, 1] ("number"),
    Even = "even" [1, 1] ("number"),
    GetValue = "get value" [2, 2] ("m", "key"),
    GetEntries = "get entries" [1, 1] ("m"),
    DateAndTime = "date and time" [1, 1] ("from"),
    Date = "date" [1, 1] ("from"),
    Time = "time" [1, 1] ("from"),
    Duration = "duration" [1, 1] ("from"),
    YearsAndMonthsDuration = "years and months duration" [2, 2] ("from", "to"),
}

impl Builtin {
    pub(crate) fn name(self) -> &'static str {
        BUILTINS.iter().find(|b| b.0 == self).map_or("?", |b| b.1)
    }
}
