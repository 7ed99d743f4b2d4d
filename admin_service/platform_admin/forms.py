import json

from django import forms

from notification_common.api_keys import Scope
from platform_admin.constants import Channel
from platform_admin.models import ApiKey


class JSONObjectField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 14, "cols": 90, "style": "font-family: monospace"})

    def clean(self, value):
        value = super().clean(value)
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise forms.ValidationError("Give a JSON object.")
        return parsed


class TemplateCreateForm(forms.Form):
    payload = JSONObjectField(
        label="Template (JSON, as the template service takes it)",
        initial=json.dumps(
            {
                "code": "welcome",
                "channel": Channel.EMAIL,
                "default_language": "en",
                "description": "",
                "versions": [
                    {"language": "en", "subject": "Welcome, {{ name }}", "text_body": "Hi {{ name }}", "html_body": ""}
                ],
            },
            indent=2,
        ),
    )

    def clean_payload(self):
        payload = self.cleaned_data["payload"]
        if not payload.get("code"):
            raise forms.ValidationError("The template needs a code.")
        return payload


class TemplateVersionForm(forms.Form):
    payload = JSONObjectField(
        label="New version (JSON)",
        initial=json.dumps({"language": "en", "subject": "", "text_body": "", "activate": False}, indent=2),
    )

    def clean_payload(self):
        payload = self.cleaned_data["payload"]
        if not payload.get("language"):
            raise forms.ValidationError("The version needs a language.")
        return payload


class TemplateActivateForm(forms.Form):
    version = forms.IntegerField(min_value=1)
    language = forms.CharField(max_length=16, required=False)


class ApiKeyCreateForm(forms.ModelForm):
    """The admin's add form; the key itself is made by services.api_key_create."""

    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in Scope.ALL], widget=forms.CheckboxSelectMultiple)
    expires_at = forms.DateTimeField(required=False, help_text="Optional, UTC (YYYY-MM-DD HH:MM).")

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expires_at"]
