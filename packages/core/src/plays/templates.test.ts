import { describe, expect, it } from "vitest";
import { renderTemplate, renderTemplateText, templateVariables } from "./templates.ts";

describe("templateVariables", () => {
  it("lists the variables a template names, once each, in order", () => {
    expect(templateVariables("{{ usage.percent }}% of {{plan.name}}: {{usage.percent}}")).toEqual({
      ok: true,
      variables: ["usage.percent", "plan.name"],
    });
    expect(templateVariables("no variables {{! a comment }}")).toEqual({ ok: true, variables: [] });
  });

  it.each([
    ["{{#plan}}x{{/plan}}", "sections are not allowed"],
    ["{{^plan}}x{{/plan}}", "inverted sections are not allowed"],
    ["{{> footer}}", "partials are not allowed"],
    ["{{{account.name}}}", "unescaped output is not allowed"],
    ["{{& account.name}}", "unescaped output is not allowed"],
    ["{{=<% %>=}}<% plan.name %>", "changing the delimiters is not allowed"],
  ])("refuses %s", (template, message) => {
    const parsed = templateVariables(template);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]?.message).toContain(message);
  });

  it("points at the offset of a broken tag", () => {
    expect(templateVariables("Hello {{plan.name")).toEqual({
      ok: false,
      issues: [{ message: "Unclosed tag", offset: 17 }],
      variables: [],
    });
    const refused = templateVariables("ab {{> x}}");
    expect(refused.ok === false && refused.issues[0]?.offset).toBe(3);
  });
});

describe("renderTemplate", () => {
  it("fills variables by their dotted names", () => {
    expect(
      renderTemplate("You're at {{usage.percent}}% of your {{plan.name}} limit", {
        "usage.percent": 80,
        "plan.name": "Starter",
      }),
    ).toBe("You're at 80% of your Starter limit");
  });

  it("escapes account and member names: no HTML gets through", () => {
    const out = renderTemplate("Hi {{member.name}} of {{account.name}}", {
      "member.name": "<script>alert(1)</script>",
      "account.name": `Acme "&" <img src=x onerror=alert(1)>`,
    });
    expect(out).not.toContain("<script>");
    expect(out).not.toContain("<img");
    expect(out).toBe(
      "Hi &lt;script&gt;alert(1)&lt;&#x2F;script&gt; of Acme &quot;&amp;&quot; &lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;",
    );
  });

  it("renders a variable without a value empty and never reads inherited properties", () => {
    expect(renderTemplate("[{{bonus}}][{{constructor}}][{{toString}}]", {})).toBe("[][][]");
  });

  it("throws on a template it would not validate", () => {
    expect(() => renderTemplate("{{{account.name}}}", { "account.name": "<b>" })).toThrow(/unescaped/);
    expect(() => renderTemplateText("{{#a}}x{{/a}}", {})).toThrow(/logic-less/);
  });

  it("renders plain text (an email's text part) with the values as they are", () => {
    expect(renderTemplateText("Hi {{member.name}}: {{x}}", { "member.name": `Ann & "Bo" <b>`, x: 3 })).toBe(
      `Hi Ann & "Bo" <b>: 3`,
    );
  });
});
