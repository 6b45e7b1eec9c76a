//! Chat templates, rendered as transformers renders them (jinja2 with
//! `trim_blocks`, `lstrip_blocks`, loop controls, `raise_exception`, and the
//! tokenizer's special tokens as variables).

use minijinja::{context, Environment, Error, ErrorKind};

pub(crate) fn render(
    template: &str,
    content: &str,
    special_tokens: &[(String, String)],
) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_template("chat", template)
        .map_err(|e| e.to_string())?;
    let tmpl = env.get_template("chat").map_err(|e| e.to_string())?;
    let mut vars: std::collections::BTreeMap<String, minijinja::Value> = special_tokens
        .iter()
        .map(|(k, v)| (k.clone(), minijinja::Value::from(v.as_str())))
        .collect();
    vars.insert(
        "messages".into(),
        minijinja::Value::from_serialize([context! { role => "user", content => content }]),
    );
    vars.insert("add_generation_prompt".into(), minijinja::Value::from(true));
    tmpl.render(vars).map_err(|e| e.to_string())
}
