"""The group "Instructors": staff users in it can start classrooms."""

from django.db import migrations


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="Instructors")


class Migration(migrations.Migration):
    dependencies = [("coordlab", "0002_sandboxes_and_classrooms"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
