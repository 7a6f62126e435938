"""Access by identity: a sandbox belongs to its browser's owner token (kept in the session's
data, which survives logging in) instead of the session key (which logging in changes), and
remembers the address it was opened from; a classroom's students are rows of their own, and
named control is a flag on the student instead of a list of typed names."""

import secrets
from importlib import import_module

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


def give_sandbox_owners_tokens(apps, schema_editor):
    """Each session that owns sandboxes, if it still exists, gets an owner token in its data
    (under "owner", as ``coordlab.access`` reads it), and its sandboxes are keyed by the token.
    Sandboxes of sessions that expired keep a key nobody has: they have no owner left."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    Sandbox = apps.get_model("coordlab", "Sandbox")
    for key in Sandbox.objects.values_list("owner", flat=True).distinct():
        session = store(session_key=key)
        if not session.exists(key):
            continue
        token = session.setdefault("owner", secrets.token_urlsafe(18))
        session.save()
        Sandbox.objects.filter(owner=key).update(owner=token)


class Migration(migrations.Migration):

    dependencies = [
        ('coordlab', '0005_lab_snapshots'),
        ('sessions', '0001_initial'),
    ]

    operations = [
        migrations.RenameField(
            model_name='sandbox',
            old_name='session_key',
            new_name='owner',
        ),
        migrations.AlterField(
            model_name='sandbox',
            name='owner',
            field=models.CharField(db_index=True, max_length=64),
        ),
        migrations.AddField(
            model_name='sandbox',
            name='address',
            field=models.CharField(db_index=True, default='', max_length=64),
        ),
        migrations.RunPython(give_sandbox_owners_tokens, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='classroom',
            name='controllers',
        ),
        migrations.CreateModel(
            name='Student',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('owner', models.CharField(editable=False, max_length=64)),
                ('name', models.CharField(max_length=40)),
                ('joined_at', models.DateTimeField(auto_now_add=True)),
                ('has_control', models.BooleanField(default=False, help_text='May change the lab when control is “named”.')),
                ('classroom', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='students', to='coordlab.classroom')),
            ],
            options={
                'ordering': ['joined_at'],
                'constraints': [models.UniqueConstraint(fields=('classroom', 'owner'), name='one_seat_per_browser'), models.UniqueConstraint(django.db.models.functions.text.Lower('name'), models.F('classroom'), name='one_name_per_classroom')],
            },
        ),
    ]
